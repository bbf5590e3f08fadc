# Two commands do all set-up on a fresh machine (Debian/Ubuntu, run as root or with sudo):
#   make demo   - install, then a scripted MCP session against the embedded `local` target
#   make test   - install (sshd, shellcheck, Slurm, the package and CPU torch in .venv), then the whole test suite
#
# Everything Python lives in a project virtualenv (.venv) made from the system interpreter: Debian 12's
# python3 is externally managed (PEP 668), so pip into it is refused; a venv is not.
SYSTEM_PYTHON ?= $(shell [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)
VENV ?= .venv
PY = $(VENV)/bin/python
PIP = $(PY) -m pip install -q --disable-pip-version-check
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# A fresh cloud machine often runs unattended upgrades at boot: wait for the dpkg lock instead of failing.
APT = $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600
LOCK = requirements.lock

.PHONY: setup setup-system setup-python demo test bench lint lock

setup-system:
	@need=""; \
	[ -x /usr/sbin/sshd ] || need="$$need openssh-server"; \
	command -v ssh >/dev/null || need="$$need openssh-client"; \
	command -v rsync >/dev/null || need="$$need rsync"; \
	command -v zstd >/dev/null || need="$$need zstd"; \
	command -v pgrep >/dev/null || need="$$need procps"; \
	command -v git >/dev/null || need="$$need git"; \
	command -v shellcheck >/dev/null || need="$$need shellcheck"; \
	command -v slurmctld >/dev/null || need="$$need slurmctld"; \
	command -v slurmd >/dev/null || need="$$need slurmd"; \
	command -v sbatch >/dev/null || need="$$need slurm-client"; \
	command -v munged >/dev/null || need="$$need munge"; \
	$(SYSTEM_PYTHON) -c 'import ensurepip, venv' 2>/dev/null || need="$$need python3-venv"; \
	if [ -n "$$need" ]; then \
	  echo "installing:$$need"; \
	  for try in 1 2 3 4 5 6 7 8 9 10; do $(APT) update -qq && break; echo "apt-get update failed (try $$try; another apt running?): retrying in 10 s"; sleep 10; done; \
	  $(APT) install -y -qq --no-install-recommends $$need >/dev/null; fi
	@# an unprivileged login for the ssh tests (sshd refuses locked accounts, hence the '*' password)
	@if [ "$$(id -u)" = 0 ]; then id bifrost-test >/dev/null 2>&1 || useradd -m -s /bin/bash bifrost-test; \
	  usermod -p '*' bifrost-test; fi

$(VENV)/bin/python:
	$(SYSTEM_PYTHON) -m venv $(VENV)

setup-python: $(VENV)/bin/python
	@# Every version comes from the lock, so an upstream release cannot change a fresh set-up overnight.
	@# torch==2.13.0 is the CPU build; an unpinned torch would pull a multi-GB CUDA build
	$(PIP) -c $(LOCK) "torch==2.13.0" -e ".[test,harness,plot,lint]"

# Refresh the lock on purpose: resolve the newest releases in a throw-away venv, then review the diff.
lock:
	rm -rf .lock-venv && $(SYSTEM_PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0" -e ".[test,harness,plot,lint]"
	{ echo "# pip constraints for every install of this project: written by 'make lock', never by hand."; \
	  echo "# $$(.lock-venv/bin/python -V), $$(uname -m), $$(date -u +%F)"; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable | sed 's/+cpu$$//'; } > $(LOCK)
	rm -rf .lock-venv

setup: setup-system setup-python

demo: setup
	$(VENV)/bin/mcp-bifrost demo

test: setup
	$(PY) -m pytest -q

# CI runs this before the tests: style and imports (ruff), formatting (ruff format), types (mypy, the
# settings in pyproject.toml), the oldest Python each package promises (vermin), the target's shell.
LINTED = mcp_bifrost gpu_harness tests bench kernels examples
lint: setup
	$(VENV)/bin/ruff check $(wildcard $(LINTED))
	$(VENV)/bin/ruff format --check $(wildcard $(LINTED))
	$(VENV)/bin/mypy
	$(VENV)/bin/vermin --no-tips --violations -t=3.10- --backport dataclasses mcp_bifrost gpu_harness
	shellcheck mcp_bifrost/remote/*.sh

bench: setup
	$(PY) bench/bench_exec.py
	$(PY) bench/bench_slurm.py
