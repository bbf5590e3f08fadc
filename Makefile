# Two commands do all set-up on a fresh machine (Debian/Ubuntu, run as root or with sudo):
#   make demo   - install, then a scripted MCP session against the embedded `local` target
#   make test   - install (sshd, rsync, the package, CPU torch), then the whole test suite
PYTHON ?= python3
PIP = $(PYTHON) -m pip install -q --root-user-action=ignore
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup setup-system setup-python demo test bench

setup-system:
	@need=""; \
	[ -x /usr/sbin/sshd ] || need="$$need openssh-server"; \
	command -v ssh >/dev/null || need="$$need openssh-client"; \
	command -v rsync >/dev/null || need="$$need rsync"; \
	command -v pgrep >/dev/null || need="$$need procps"; \
	command -v git >/dev/null || need="$$need git"; \
	if [ -n "$$need" ]; then \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need; fi
	@# an unprivileged login for the ssh tests (sshd refuses locked accounts, hence the '*' password)
	@if [ "$$(id -u)" = 0 ]; then id bifrost-test >/dev/null 2>&1 || useradd -m -s /bin/bash bifrost-test; \
	  usermod -p '*' bifrost-test; fi

setup-python:
	@# torch==2.13.0 is the CPU build; an unpinned torch would pull a multi-GB CUDA build
	$(PIP) "torch==2.13.0"
	$(PIP) -e ".[test,harness]"

setup: setup-system setup-python

demo: setup
	mcp-bifrost demo

test: setup
	$(PYTHON) -m pytest -q

bench: setup
	$(PYTHON) bench/bench_exec.py
