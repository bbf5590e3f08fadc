"""The kernel loop: smoke tests, fan-out, profiles, history and problems. `KernelLoop` is its entry."""
