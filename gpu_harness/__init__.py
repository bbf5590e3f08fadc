"""gpu_harness: load a kernel problem, check a candidate, time it honestly, catch reward hacking.

Runs on the GPU host with the standard library and torch alone (PyYAML for GPU MODE task files;
Triton and CuPy are imported only when a candidate uses them). It never imports mcp_bifrost: the
two meet in the versioned JSON report documented in README.md beside this file.
"""

__version__ = "0.1.0"
SCHEMA_VERSION = 1
