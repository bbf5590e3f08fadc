"""asyncssh, imported once with its import-time noise silenced.

Why: cryptography 51 deprecates DSA, and asyncssh (2.24) touches the DSA types while its modules load,
so every `mcp-bifrost` command used to start with ten lines of CryptographyDeprecationWarning on stderr.
The filter is as narrow as it can be: that category, raised from asyncssh's own modules, during this
import only. Any other warning, and this one raised later from elsewhere, still shows.
"""

from __future__ import annotations

import warnings

try:  # the warning class moved once and may move again; without it there is nothing to silence
    from cryptography.utils import CryptographyDeprecationWarning

    _CryptoWarning: type[Warning] | None = CryptographyDeprecationWarning
except ImportError:  # pragma: no cover - depends on the installed cryptography
    _CryptoWarning = None

with warnings.catch_warnings():
    if _CryptoWarning is not None:
        warnings.filterwarnings("ignore", category=_CryptoWarning, module=r"asyncssh(\.|$)")
    import asyncssh

__all__ = ["asyncssh"]
