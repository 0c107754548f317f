"""The upgrade gate, ``--oslab-phase pre|post|cleanup``: gate an upgrade with a workload that outlives the run.

- ``pre`` creates the workload (a self-service network and subnet behind a router, a security group allowing
  ICMP and SSH, a keypair, two servers, a spare port made beforehand and left unbound (H1), a floating IP for
  the first server when the cloud has an external network), or
  reuses the one an earlier ``pre`` left; checks its documented facts; and saves a snapshot of its data plane as
  JSON beside the report (``reports/oslab-<cloud>-<time>-pre.json``). Everything carries the tags ``oslab``,
  ``oslab-run-<workload id>`` and ``oslab-workload`` (the keypair is named ``oslab-<workload id>-workload-key``),
  so ``post`` finds it again and ``oslab cleanup`` would remove it. Its private key is kept, 0600, in the state
  directory (``$OSLAB_STATE_DIR``, default ``~/.local/state/pytest-oslab``), never beside the reports.
- ``post`` loads the newest pre snapshot of the cloud (or ``--oslab-snapshot``), finds that workload, checks its
  facts again, takes a new snapshot and compares: what must not change fails, naming what changed; what may
  change is reported (see ``pytest_oslab.report.snapshot``).
- ``cleanup`` removes the workload (all of them, for that cloud) and its key; the run's other tests are deselected.

Between the two, the workload is watched: ``pre`` ends by starting the probe agent (``pytest_oslab.probe``) on
the node whose namespace reaches the guests (the DHCP node's ``qdhcp-``, OVN's ``ovnmeta-``), detached and
bounded, and records it in the state directory (``<cloud>-probe-<workload>.json``: node, PID, directory);
``post`` first stops that agent by its PID and reads its files back (kept in ``<cloud>-probe-<workload>/``), and
last fails when a guest's loss or longest gap along a path is over ``--oslab-max-loss`` / ``--oslab-max-gap``.
Each snapshot also holds the versions it was taken at (each node's packages, each API's version document), so
that the post report shows what the upgrade changed.

The phase's steps are test items of their own (``workload::pre::...``), run first and in order, whatever ``-k``
or ``-m`` select; the suite's tests run after them as usual. Under pytest-xdist they stay on one worker, in
order (``--dist load`` becomes ``loadgroup``, the steps one group; ``loadscope`` and ``loadfile`` keep them
together as they are).

The workload is the suites' own topology (``pytest_oslab.provision.topology``) and its servers are seen as the
suites' own (``pytest_oslab.booted.Booted``). Modules: ``workload`` (make, find, remove it; its probe agent),
``checks`` (its facts, with the suites' checks), ``snapshots`` (what is kept and compared), ``plugin`` (the
options, the phase's steps as test items, the hooks).
"""
