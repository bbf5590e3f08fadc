# Exploit (issue 18): replace gpu_harness's modules in sys.modules with forgeries (a comparison that
# always passes, a report that always passes), then return zeros.
import sys
import types

import gpu_harness.outcome as real_outcome
from gpu_harness.outcome import Comparison

fake_check = types.ModuleType("gpu_harness.check")
fake_check.__dict__.update(sys.modules["gpu_harness.check"].__dict__)
fake_check.compare = lambda *a, **k: Comparison(True)
fake_check.compare_tensor = lambda *a, **k: Comparison(True)
sys.modules["gpu_harness.check"] = fake_check
real_outcome.Report.finish = lambda self: (setattr(self, "passed", True), self)[1]
for name in list(sys.modules):
    if name.startswith("gpu_harness.") and name not in ("gpu_harness.check", "gpu_harness.outcome"):
        module = sys.modules[name]
        if hasattr(module, "check"):
            setattr(module, "check", fake_check)


def custom_kernel(data):
    A, B, C = data
    C.zero_()
    return C
