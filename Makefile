# The two commands of the README:
#   make nightly   the main job: bring the lab up, run the suites against it, HTML + JUnit report under reports/
#   make test      the project's tests: unit tests, the plugin's tests on the lab, and the suites on the lab
# Both install what they need (Debian packages through `oslab lab up`, Python packages into .venv).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CLOUD  ?= lab

.PHONY: venv lab browser nightly test unit lab-tests suites bench drivers

$(BIN)/oslab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/oslab

lab: venv
	$(BIN)/oslab lab up

unit: venv
	$(BIN)/pytest -q tests/unit

# the report tests look at the HTML report in a real headless browser
browser:
	command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium

lab-tests: lab browser
	OSLAB_REQUIRE_LAB=1 $(BIN)/pytest -q tests/lab

suites: lab
	$(BIN)/pytest suites --cloud $(CLOUD)

nightly: lab suites

test: lab unit lab-tests suites

bench: lab
	$(BIN)/python bench/lab.py

# every mechanism driver (and OVS firewall) from scratch: `lab down --purge`, `lab up --driver D --firewall F`,
# then the suites, each with its own report (reports/oslab-lab-*); the lab is left on the last of MATRIX
MATRIX ?= openvswitch:openvswitch openvswitch:iptables_hybrid ovn linuxbridge
drivers: venv
	set -e; for m in $(MATRIX); do \
	  d=$${m%%:*}; f=$${m#*:}; [ "$$f" = "$$m" ] && f=openvswitch; \
	  echo "=== driver $$d, firewall $$f"; \
	  $(BIN)/oslab lab down --purge; \
	  $(BIN)/oslab lab up --driver $$d --firewall $$f; \
	  $(BIN)/pytest suites --cloud lab; \
	done
