# dcmrecv-cluster: the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 11112
OUT ?= incoming
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN := $(VENV)/bin

.PHONY: run test lint bench deps dcmtk venv clean cluster-demo

run: venv
	mkdir -p $(OUT)
	$(BIN)/dcmrecv-cluster --verbose --embedded-profile --output-directory $(OUT) $(PORT)

test: deps
	$(BIN)/pytest

# Rules and line length are in pyproject.toml ([tool.ruff]); the whole repository, tests included.
lint: venv
	@[ -x $(BIN)/ruff ] || $(BIN)/pip install -q -e '.[lint]'
	$(BIN)/ruff check .

bench: deps
	mkdir -p bench-results/work
	$(BIN)/pip install -q -e '.[bench]'
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m dcmrecv_cluster.loadtest.bench --workdir bench-results/work --json bench-results/bench.json --plot bench-results/bench.png

deps: dcmtk venv
	$(BIN)/pip install -q -e '.[test]'

# DCMTK is the oracle and the senders of the tests (Debian package dcmtk); HAProxy is the
# balancer of the scale-out tests (Debian package haproxy, run in the foreground by the tests);
# libfuse3 serves the recording disk of the power-cut tests, which also make XFS and btrfs.
SYSTEM_PACKAGES := dcmtk haproxy libfuse3-3 xfsprogs btrfs-progs
dcmtk:
	@if ! dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(SYSTEM_PACKAGES); \
	fi

venv: $(BIN)/dcmrecv-cluster

$(BIN)/dcmrecv-cluster: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

# Three nodes on 127.0.0.11-13 behind HAProxy on 127.0.0.1:$(PORT) (deploy/haproxy.cfg); Ctrl-C stops all.
cluster-demo: venv
	@[ -x /usr/sbin/haproxy ] || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q haproxy; }
	BIN=$(BIN) OUT=$(OUT) PORT=$(PORT) sh deploy/cluster-demo.sh

clean:
	rm -rf $(VENV) build *.egg-info bench-results
