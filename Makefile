# The newcomer's two commands: `make demo` and `make test` (see README.md).
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
DATA    ?= var/demo
PORT    ?= 8080
# On CI a test that fails is run once more before the run fails: the suite boots real hosts and VMs on a
# 2-core machine, where a timing hiccup is not a defect; a real defect fails twice.
PYTEST_ARGS ?= $(if $(CI),--reruns 1 --reruns-delay 5,)

# Debian packages the tests use as real parts (browser, antivirus, PDF checks, monitoring, fonts, test hosts).
DEBS := wrk chromium clamav-daemon poppler-utils prometheus prometheus-node-exporter prometheus-alertmanager \
        fonts-liberation fonts-liberation2 fonts-dejavu-core libreoffice-writer-nogui sqlite3 python3-venv \
        libnss3-tools mmdebstrap systemd-container qemu-system-x86 qemu-utils grub-pc-bin grub-efi-amd64-bin \
        mtools dosfstools fdisk ovmf nftables iproute2 openssh-client apt-cacher-ng borgbackup

.PHONY: demo test venv debs lint bench clean

$(BIN)/vanban: pyproject.toml constraints.txt
	@dpkg -s python3-venv >/dev/null 2>&1 || ! command -v apt-get >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test,ops]'
	@touch $@

venv: $(BIN)/vanban

# Installs only what is missing, so a warm machine pays one dpkg query.
debs:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

demo: venv
	$(BIN)/vanban --data $(DATA) demo --if-empty
	$(BIN)/vanban --data $(DATA) serve --port $(PORT)

test: venv debs
	$(BIN)/ruff check app tests
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check app tests

bench: venv
	$(BIN)/python tests/perf/bench_web.py

clean:
	rm -rf $(VENV) var .pytest_cache
