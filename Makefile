# The two commands of the README:
#   make nightly   the main job: bring the lab up, run the suites against it, HTML + JUnit report under reports/
#   make test      the project's tests: unit tests, the plugin's tests on the lab, the suites on the lab on every driver
# Both install what they need (Debian packages through `oslab lab up`, Python packages into .venv).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CLOUD  ?= lab
DRIVER ?= linuxbridge
# make nightly's lab: the controller (also the network node) and two computes, each reached over SSH
NODES  ?= 3
# where the lab's services run: on the hosts (--no-containers), or in kolla-ansible's containers (--containers)
SHAPE  ?= --no-containers

.PHONY: venv lab browser nightly test unit lab-tests multinode suites bench drivers containers

$(BIN)/oslab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/oslab

lab: venv
	$(BIN)/oslab lab up --driver $(DRIVER) --nodes $(NODES) $(SHAPE)

# on two pytest-xdist workers (the machine's two cores)
unit: venv
	$(BIN)/pytest -q -n 2 tests/unit

# the report tests look at the HTML report in a real headless browser
browser:
	command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium

# the plugin's tests on the lab of one node (the breakages there are one node's; those between nodes run below); the
# slowest named at the end (where the time of `make test` goes)
lab-tests: venv browser
	$(BIN)/oslab lab up --driver $(DRIVER) --nodes 1 --no-containers
	OSLAB_REQUIRE_LAB=1 $(BIN)/pytest -q --durations=12 tests/lab --ignore=tests/lab/test_upgrade.py --ignore=tests/lab/test_lab_down.py \
	  --ignore=tests/lab/test_devstack_profile.py $(LAB_TESTS_LEAVE)

# the lab of three nodes: the lab tests that need compute nodes (each node over SSH, a server on each compute, a
# compute killed and healed; the breakages between nodes that the lab can make: l2pop entries, the underlay's MTU, a
# stale tap left on the compute a server moved from),
# then the suites over SSH, X1-X7 included; then the upgrade gated by a workload (the compute nodes restarted one
# node at a time); last `lab down` leaving nothing of the three nodes behind (and the lab up again). The lab shaped
# as devstack runs in `make drivers`, on ML2/OVN, devstack's own driver (on this lab's Linux bridge:
# `OSLAB_REQUIRE_LAB=1 .venv/bin/pytest tests/lab/test_devstack_profile.py` after `make lab`)
multinode: venv
	$(BIN)/oslab lab up --driver $(DRIVER) --nodes 3 --no-containers
	OSLAB_REQUIRE_LAB=1 $(BIN)/pytest -q --durations=6 tests/lab/test_multinode.py tests/lab/test_breakages.py -k "multinode or fdb or underlay or stale"
	$(BIN)/pytest --cloud $(CLOUD)
	OSLAB_REQUIRE_LAB=1 $(BIN)/pytest -q tests/lab/test_upgrade.py tests/lab/test_lab_down.py

# at the root, pytest collects the suites only (testpaths); the project's own tests are named above
suites: lab
	$(BIN)/pytest --cloud $(CLOUD)

nightly: lab suites

# within CI's time: the container shape on Linux bridge only (`make containers` alone runs OVN in containers too),
# and the whole suite again after the breakages left to the lab tests that follow them and to `make multinode`'s
# suite (`make lab-tests` alone runs it)
test: CONTAINER_DRIVERS = linuxbridge
test: LAB_TESTS_LEAVE = --deselect tests/lab/test_breakages.py::test_the_suite_passes_again_once_the_lab_is_healed
test: unit lab-tests multinode drivers containers

# bench/suite.py takes the lab lock for each suite or Tempest run (BENCH_LOCK= when the caller holds it)
BENCH_RUNS ?= 3
BENCH_LOCK ?= /run/oslab-lab.lock
bench: lab
	$(BIN)/python bench/lab.py
	$(BIN)/python bench/suite.py --runs $(BENCH_RUNS) --lock '$(BENCH_LOCK)'

# the other mechanism drivers (and OVS firewalls) on the lab of $(NODES) nodes, each switched to in place as a user
# would (`lab up --driver D --firewall F`: the old driver deletes its networks, the new one makes them again, every
# node with it), then the suites over SSH with their own report (reports/oslab-lab-*): OVN from Linux bridge, ML2/OVS
# from OVN (the switch makes br-provider and br-underlay anew when userspace TSO changes), the hybrid firewall from
# the native one; on OVN, devstack's driver, also the lab shaped as devstack and the suites as its user runs them.
# Every driver runs even when one fails; the lab ends on $(DRIVER) again.
MATRIX ?= ovn openvswitch:openvswitch openvswitch:iptables_hybrid
drivers: venv
	rc=0; $(BIN)/oslab lab up --nodes $(NODES) --no-containers || rc=1; \
	for m in $(MATRIX); do \
	  d=$${m%%:*}; f=$${m#*:}; [ "$$f" = "$$m" ] && f=openvswitch; \
	  echo "=== driver $$d, firewall $$f"; \
	  { $(BIN)/oslab lab up --driver $$d --firewall $$f && $(BIN)/pytest --cloud lab; } || rc=1; \
	  if [ "$$d" = ovn ]; then OSLAB_REQUIRE_LAB=1 $(BIN)/pytest -q tests/lab/test_devstack_profile.py || rc=1; fi; \
	done; \
	echo "=== back to driver $(DRIVER)"; \
	$(BIN)/oslab lab up --driver $(DRIVER) || rc=1; \
	exit $$rc

# the lab whose services run in kolla-ansible's containers (`lab up --containers`: agents, libvirt, nova-compute,
# nova's API and Open vSwitch/OVN of every node under podman, with kolla's names and its neutron state volume) on
# $(NODES) nodes: on each driver the suites, clouds.yaml saying the kolla profile, then the shape's own tests (each
# node's containers over SSH; told the deployment is packages, the first failing check says it looks
# containerised). Every driver runs even when one fails. The lab stays in this shape; every other target says its
# own (`make nightly` the hosts, `make nightly SHAPE=--containers` this one).
CONTAINER_DRIVERS ?= linuxbridge ovn
containers: venv
	rc=0; for d in $(CONTAINER_DRIVERS); do \
	  echo "=== driver $$d, services in containers"; \
	  { $(BIN)/oslab lab up --containers --driver $$d --nodes $(NODES) && $(BIN)/pytest --cloud lab \
	    && OSLAB_REQUIRE_LAB=1 $(BIN)/pytest -q tests/lab/test_kolla_shape.py; } || rc=1; \
	done; \
	exit $$rc
