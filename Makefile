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
APT = $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: setup setup-system setup-python demo test bench lint

setup-system:
	@need=""; \
	[ -x /usr/sbin/sshd ] || need="$$need openssh-server"; \
	command -v ssh >/dev/null || need="$$need openssh-client"; \
	command -v rsync >/dev/null || need="$$need rsync"; \
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
	  $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $$need >/dev/null; fi
	@# an unprivileged login for the ssh tests (sshd refuses locked accounts, hence the '*' password)
	@if [ "$$(id -u)" = 0 ]; then id bifrost-test >/dev/null 2>&1 || useradd -m -s /bin/bash bifrost-test; \
	  usermod -p '*' bifrost-test; fi

$(VENV)/bin/python:
	$(SYSTEM_PYTHON) -m venv $(VENV)

setup-python: $(VENV)/bin/python
	@# torch==2.13.0 is the CPU build; an unpinned torch would pull a multi-GB CUDA build
	$(PIP) "torch==2.13.0"
	$(PIP) -e ".[test,harness]"

setup: setup-system setup-python

demo: setup
	$(VENV)/bin/mcp-bifrost demo

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/vermin --no-tips --violations -t=3.10- --backport dataclasses mcp_bifrost gpu_harness
	shellcheck mcp_bifrost/remote/*.sh

bench: setup
	$(PY) bench/bench_exec.py
	$(PY) bench/bench_slurm.py
