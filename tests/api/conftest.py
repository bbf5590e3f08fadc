"""The kernel loop's fixtures (a bare GPU-less host's python, a workspace with vectoradd, a config with the
real sshd as `gpu` and `local`), shared with tests/loop."""

from tests.loop.conftest import bare_python, loop_config, workspace

__all__ = ["bare_python", "loop_config", "workspace"]
