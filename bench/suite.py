"""Benchmark of the suite's speed (issue 17): medians of N runs on the lab, each ratio with the numbers it came from.

    .venv/bin/python bench/suite.py [--runs 3] [--cloud lab] [--only P1,P2,P3,P4] [--lock /run/oslab-lab.lock]

- P1: the suite's wall time / the cloud's critical path, from the run's own history record: per server, create ->
  ACTIVE -> SSH answered (SSH only when the run waited for it, its first attempt refused; a guest reached at its
  first attempt was ready before it was asked and counts with create -> ACTIVE), then the chains that follow on it
  as its tests time them (hot-plug H2/H3/H5/H6: attach -> port ACTIVE -> NIC in the guest, detach, re-attach; S5:
  rule created -> in the chains -> in the traffic); the critical path is the longest, every chain at once;
  With it, what this machine's CPUs (the lab's: it runs here) did meanwhile: the CPU-seconds the run used
  (``/proc/stat``), so the wall time no schedule could go below on this machine's cores (CPU-seconds / cores), the
  busy share of all cores per 10 s of the run (the guests booting under software emulation keep it full), and the
  CPU-seconds of each program (bench/cpu.py: the guests' QEMU, the cloud's services, the run itself);
- P3: SSH sessions opened per node and per guest in one suite run (bench/count_sessions.py: paramiko connections
  that succeeded, and the local backends of a ``local://`` node); the ratio is the most sessions of any one target;
- P4: fan-out: the node facts the instance checks read (links, namespaces, iptables, processes) gathered from 16
  nodes against from 1 node, through ``checks.core.on_each`` as the checks gather them; the 16 nodes are the lab's
  nodes as its clouds.yaml names them, over SSH as the suite reaches them (``access.nodes.NodePool``), repeated
  to 16 (each its own SSH session, opened before the clock starts); with it the CPU floor of the 16 nodes' work, as
  for P1: here every node is a namespace of this machine, so the 16 share its cores as no real nodes would;
- P2: Tempest against the same lab, back to back with pytest-oslab: Tempest (pinned below, installed into
  bench/.tempest-venv from PyPI with the pins it needs, configured by bench/tempest_conf.py) runs
  test_server_basic_ops, the attach_interfaces API tests and suspend/resume; pytest-oslab runs the equivalent
  suites (guests, hot-plug, instances) while checking every node fact they touch. The ratio of wall times.

Every use of the lab takes the lab lock (flock, one suite or Tempest run per hold); ``--lock ''`` when the caller
already holds it. N=1 is allowed for a quick run; the output then says that its figures are single runs.
Speed lives here and nowhere in the tests.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cpu import CpuMeter  # bench/cpu.py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
TEMPEST_VERSION = "33.0.0"  # the Zed cycle's Tempest, for the lab's OpenStack Zed
# what PyPI's newest releases broke for it: oslo.utils 7+ has no secretutils.md5 (every `tempest run` fails to load)
TEMPEST_PINS = [f"tempest=={TEMPEST_VERSION}", "oslo.utils==6.0.1"]
TEMPEST_VENV = HERE / ".tempest-venv"
TEMPEST_TESTS = [  # what Tempest runs for P2
    "tempest.scenario.test_server_basic_ops",
    "tempest.api.compute.servers.test_attach_interfaces",
    "tempest.api.compute.servers.test_server_actions.ServerActionsTestJSON.test_suspend_resume_server",
]
SUITE_EQUIVALENT = ["suites/test_guests.py", "suites/test_hotplug.py", "suites/test_instances.py"]
GOALS = {"P1": 1.5, "P2": 0.5, "P3": 1, "P4": 1.5, "skip": 0.1}
FACT_TOTAL = re.compile(r"^all\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", re.M)
PHASE = re.compile(r"^(\d+(?:\.\d+)?)s (setup|call|teardown)\s+(\S+)$", re.M)  # pytest --durations lines


@contextlib.contextmanager
def lab_lock(path: str):
    if not path:
        yield
        return
    with open(path, "a") as f:
        t0 = time.monotonic()
        fcntl.flock(f, fcntl.LOCK_EX)
        waited = time.monotonic() - t0
        if waited > 1:
            print(f"  (waited {waited:.0f} s for the lab lock)", flush=True)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def median(values):
    return statistics.median(values) if values else float("nan")


def shown(values, unit="s", digits=1):
    return ", ".join(f"{v:.{digits}f}{unit}" for v in values)


# --- P1 and P3: one suite run ---------------------------------------------------------------------------------

SAVE: list = []  # --save DIR: where each run's output, history record and session counts are kept


def run_suite(cloud: str, lock: str, paths=(), extra=()) -> dict:
    """One suite run: wall time, its history record, the sessions it opened, the per-fact totals."""
    with tempfile.TemporaryDirectory(prefix="oslab-bench-") as tmp:
        sessions = Path(tmp) / "sessions.json"
        path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(HERE)) if p)
        env = {"PYTHONPATH": path, "OSLAB_BENCH_SESSIONS": str(sessions)}
        argv = [PYTHON, "-m", "pytest", "--cloud", cloud, "-p", "count_sessions", "-p", "no:cacheprovider",
                f"--oslab-report-dir={tmp}", "-q", "--durations=0", "--durations-min=0", *extra, *paths]
        with lab_lock(lock), CpuMeter(every=2.0, programs=True) as cpu:
            t0 = time.monotonic()
            proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env})
            wall = time.monotonic() - t0
        records = sorted((Path(tmp) / "history").glob("*.json"))
        record = json.loads(records[-1].read_text()) if records else {}
        counts = json.loads(sessions.read_text()) if sessions.exists() else {}
        if SAVE:
            keep = Path(SAVE[0]) / time.strftime("suite-%Y%m%d-%H%M%S")
            keep.mkdir(parents=True, exist_ok=True)
            (keep / "output.txt").write_text(proc.stdout + proc.stderr)
            for found in records + ([sessions] if sessions.exists() else []):
                (keep / found.name).write_text(found.read_text())
        totals = FACT_TOTAL.findall(proc.stdout)
        last = proc.stdout.strip().splitlines()[-3:] if proc.stdout.strip() else ["(no output)"]
        return {"wall": wall, "rc": proc.returncode, "record": record, "sessions": counts, "cpu": cpu,
                "phases": phases_of(proc.stdout),
                "facts": totals[-1] if totals else None, "summary": " / ".join(last)}


def phases_of(output: str) -> dict:
    """nodeid -> {setup, call, teardown: seconds}, from pytest's --durations lines."""
    found: dict = {}
    for seconds, when, nodeid in PHASE.findall(output):
        found.setdefault(nodeid, {})[when] = float(seconds)
    return found


# the chains of cloud actions that follow a boot, as the run's tests time them (setup + call: the teardown of the
# run's last test is the session's, deleting everything): the
# hot-plug scenario (attach -> port ACTIVE -> NIC in the guest, detach, re-attach) on its servers, S5 (rule created
# -> in the chains -> in the traffic, removed) on the guarded server
FOLLOWS = {"hotplug_servers": ("suites/test_hotplug.py::", ("H2", "H3", "H5", "H6")),
           "guarded_server": ("suites/test_security_groups.py::", ("S5",))}


def server_ready(boot: dict):
    """(seconds from create, how): SSH answered when the run waited for it (its first attempt was refused), else
    ACTIVE (the guest was ready before the run asked: its SSH time is not the cloud's)."""
    active, ready, first = boot.get("active"), boot.get("ssh_ready"), boot.get("first_try")
    if ready is not None and first is not None and ready - first > 1.0:
        return ready, f"create -> SSH answered {ready:.1f}s"
    return (active, f"create -> ACTIVE {active:.1f}s") if active is not None else (None, "")


def critical_path(record: dict, phases: dict):
    """(seconds, the chain it is): the longest chain of the cloud's own times in a run's history record and its
    tests' phases (``phases_of``), every independent chain taken as running at once."""
    chains = []
    for boot in record.get("boots", []):
        ready, how = server_ready(boot)
        if ready is None:
            continue
        role = next((r for r in FOLLOWS if f"-{r}-" in boot["server"]), None)
        then, named = 0.0, []
        if role:
            prefix, facts = FOLLOWS[role]
            for test in record.get("tests", []):
                if test["nodeid"].startswith(prefix) and set(test["facts"]) & set(facts) and \
                        test["outcome"] == "passed":
                    timed = phases.get(test["nodeid"], {})
                    then += timed.get("setup", 0.0) + timed.get("call", 0.0)
                    named += [f for f in test["facts"] if f in facts]
        chain = f"{boot['server']}: {how}" + (f" + {'/'.join(named)} {then:.1f}s" if named else "")
        chains.append((ready + then, chain))
    return max(chains) if chains else (float("nan"), "no boot recorded")


def skip_cost(record: dict, phases: dict):
    """(how many tests skipped, the most one cost in seconds: setup + call + teardown, its nodeid)."""
    costs = [(sum(phases.get(t["nodeid"], {}).values()), t["nodeid"]) for t in record.get("tests", [])
             if t["outcome"] == "skipped"]
    return (len(costs), *max(costs)) if costs else (0, 0.0, "")


def p1_p3(cloud: str, lock: str, runs: int) -> None:
    results = []
    for i in range(runs):
        r = run_suite(cloud, lock)
        path, chain = critical_path(r["record"], r["phases"])
        r["path"], r["chain"] = path, chain
        results.append(r)
        print(f"  suite run {i + 1}: {r['wall']:.1f}s wall, critical path {path:.1f}s ({chain}); facts "
              f"run/passed/failed/skipped {'/'.join(r['facts'] or ['?'])}; exit {r['rc']}: {r['summary']}",
              flush=True)
        print(f"    {cpu_line(r['cpu'], r['wall'])}", flush=True)
        skipped, most, which = skip_cost(r["record"], r["phases"])
        print(f"    skipped tests: {skipped}, the costliest {most:.2f}s (goal < {GOALS['skip']}s)"
              f"{': ' + which if most else ''}", flush=True)
    walls, paths = [r["wall"] for r in results], [r["path"] for r in results]
    ratios = [w / p for w, p in zip(walls, paths)]
    floors = [r["cpu"].floor / p for r, p in zip(results, paths)]
    print(f"P1 suite wall / critical path: {median(ratios):.2f} (goal <= {GOALS['P1']}); walls {shown(walls)}, "
          f"critical paths {shown(paths)}; the least this machine's CPUs allow (CPU floor / critical path): "
          f"{median(floors):.2f}", flush=True)
    last = results[-1]["sessions"]
    per_target = {**{f"ssh {k}": v for k, v in last.get("ssh", {}).items()},
                  **{f"local {k}": v for k, v in last.get("local", {}).items()}}
    most = max(per_target.values()) if per_target else float("nan")
    print(f"P3 sessions opened per node/guest in one run: max {most} (goal {GOALS['P3']}); "
          f"{', '.join(f'{k}: {v}' for k, v in sorted(per_target.items())) or 'none counted'}; refused attempts "
          f"(guests booting): {sum(last.get('ssh_failed', {}).values())}", flush=True)


def cpu_line(cpu: CpuMeter, wall: float) -> str:
    shares = " ".join("-" if b is None else str(b) for b in cpu.profile())
    line = (f"CPU: {cpu.cpu_seconds:.0f} CPU-seconds on {cpu.cores} cores, floor {cpu.floor:.1f}s "
            f"({100 * cpu.floor / wall:.0f} % of the wall); busy % of all cores per 10 s: {shares} (this machine: "
            f"the lab's)")
    if cpu.by_program:
        named = {"qemu-system-x86_64": "qemu-system-x86_64 (the guests)", "pytest": "pytest (the run itself)"}
        programs = cpu.heaviest()
        if "pytest" not in dict(programs):  # the run itself is always shown
            programs.append(("pytest", cpu.by_program.get("pytest", 0.0)))
        heaviest = ", ".join(f"{named.get(p, p)} {s:.1f}" for p, s in programs)
        line += f"\n    CPU-seconds by program: {heaviest}; not seen (short commands) {cpu.unaccounted:.1f}"
    return line


# --- P4: fan-out ----------------------------------------------------------------------------------------------

def gather_facts(node) -> None:
    node.links()
    node.namespaces()
    node.iptables()
    node.processes("dnsmasq")


def lab_nodes(cloud: str, count: int) -> list:
    """``count`` NodeFacts over SSH, each its own session: the nodes of ``cloud``'s inventory as a run reads it
    (clouds.yaml's ``oslab``), repeated (``compute1#2`` is compute1's second session), connected before they are
    timed."""
    import dataclasses

    from pytest_oslab import config
    from pytest_oslab.access import deployment, inventory, nodes as access
    from pytest_oslab.checks.nodes import NodeFacts

    oslab = config.resolve(cloud).oslab
    named = inventory.Inventory.build(oslab.nodes, oslab.inventory, oslab.node_user, oslab.node_key)
    if not named.nodes:
        raise SystemExit(f"P4: cloud {cloud} names no nodes (clouds.yaml oslab: nodes: or inventory:)")
    repeated = []
    for i in range(count):
        node = named.nodes[i % len(named.nodes)]
        repeated.append(dataclasses.replace(node, name=f"{node.name}#{i // len(named.nodes) + 1}"))
    pool = access.NodePool(dataclasses.replace(named, nodes=repeated), timeout=30, command_timeout=60,
                           bastion=oslab.bastion, deployments=deployment.DeploymentConfig.parse(oslab.deployment))
    return [NodeFacts(pool.host(n), n.name) for n in repeated]


def fan_out(nodes: list) -> tuple:
    """(wall seconds, CpuMeter, this process's CPU-seconds) of gathering the facts from every one of ``nodes`` as
    the checks do."""
    from pytest_oslab.checks import core

    with core.recorded(), CpuMeter(every=0.5) as cpu:  # the evidence the checks would attach, kept and dropped
        # this process's CPU-seconds, every thread's: the runner's side of SSH (paramiko) and the parsers
        t0, mine = time.monotonic(), time.process_time()
        core.on_each(nodes, gather_facts)
        wall, mine = time.monotonic() - t0, time.process_time() - mine
    return wall, cpu, mine


def p4(cloud: str, lock: str, runs: int) -> None:
    one, many, floors, runner = [], [], [], []
    with lab_lock(lock):
        sixteen = lab_nodes(cloud, 16)
        fan_out(sixteen)  # warm-up: imports, each session's first command (sudo, the deployment) are not fan-out
        for _ in range(runs):
            one.append(fan_out(sixteen[:1])[0])
            wall, cpu, mine = fan_out(sixteen)
            many.append(wall)
            floors.append(cpu.floor)
            runner.append(mine)
    ratios = [m / o for m, o in zip(many, one)]
    names = sorted({n.name.split("#")[0] for n in sixteen})
    least_here = median([f / o for f, o in zip(floors, one)])
    least_apart = median([max(o, r) / o for o, r in zip(one, runner)])
    print(f"P4 fan-out, node facts from 16 nodes / from 1: {median(ratios):.2f} (goal <= {GOALS['P4']}); 16 nodes "
          f"{shown(many, digits=2)}, 1 node {shown(one, digits=2)} (over SSH: {', '.join(names)} repeated to 16 "
          f"sessions); the least this machine's CPUs allow (CPU floor of the 16 / 1 node's wall): {least_here:.2f} "
          f"(floors {shown(floors, digits=2)}: every node's work on this machine's {os.cpu_count()} cores); of it "
          f"the runner's own CPU (this process: SSH, parsing) {shown(runner, digits=2)}, the least nodes of their "
          f"own would allow: {least_apart:.2f}", flush=True)


# --- P2: against Tempest --------------------------------------------------------------------------------------

def tempest_ready() -> Path:
    tempest = TEMPEST_VENV / "bin" / "tempest"
    if not tempest.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TEMPEST_VENV)], check=True)
        subprocess.run([str(TEMPEST_VENV / "bin" / "pip"), "install", "-q", *TEMPEST_PINS], check=True)
    return tempest


def run_tempest(cloud: str, lock: str) -> float:
    import tempest_conf

    tempest = tempest_ready()
    with tempfile.TemporaryDirectory(prefix="oslab-tempest-") as tmp:
        workspace = Path(tmp) / "ws"
        subprocess.run([str(tempest), "init", "--workspace-path", str(Path(tmp) / "workspaces.yaml"), str(workspace)],
                       check=True, capture_output=True)  # its registry of workspaces in tmp, not in ~/.tempest
        with lab_lock(lock):
            (workspace / "etc" / "tempest.conf").write_text(tempest_conf.render(cloud, workspace))
            t0 = time.monotonic()
            proc = subprocess.run([str(tempest), "run", "--serial", "--regex",
                                   "(" + "|".join(f"^{re.escape(t)}" for t in TEMPEST_TESTS) + ")"],
                                  cwd=workspace, capture_output=True, text=True)
            wall = time.monotonic() - t0
    totals = re.findall(r"^ - (Passed|Skipped|Failed): (\d+)", proc.stdout, re.M)
    print(f"  tempest: {wall:.1f}s, exit {proc.returncode}, {', '.join(f'{k} {v}' for k, v in totals) or 'no totals'}",
          flush=True)
    if proc.returncode != 0:  # which tests failed (stestr's lines end in FAILED), then the tail
        failed = [line for line in proc.stdout.splitlines() if line.rstrip().endswith("FAILED")]
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        print("\n".join("    " + line for line in failed + tail), flush=True)
    return wall


def p2(cloud: str, lock: str, runs: int) -> None:
    tempest, ours = [], []
    for _ in range(runs):
        tempest.append(run_tempest(cloud, lock))
        r = run_suite(cloud, lock, paths=SUITE_EQUIVALENT)
        print(f"  pytest-oslab {' '.join(SUITE_EQUIVALENT)}: {r['wall']:.1f}s, exit {r['rc']}: {r['summary']}",
              flush=True)
        ours.append(r["wall"])
    ratios = [o / t for o, t in zip(ours, tempest)]
    print(f"P2 pytest-oslab / Tempest: {median(ratios):.2f} (goal <= {GOALS['P2']}); pytest-oslab {shown(ours)}, "
          f"Tempest {TEMPEST_VERSION} {shown(tempest)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (medians); 1 for a quick run")
    parser.add_argument("--cloud", default="lab")
    parser.add_argument("--only", default="P1,P3,P4,P2", help="which figures, comma-separated (P1 and P3 share runs)")
    parser.add_argument("--lock", default="/run/oslab-lab.lock", help="the lab lock ('' when already held)")
    parser.add_argument("--save", help="keep each suite run's output, history record and session counts here")
    args = parser.parse_args()
    if args.save:
        SAVE.append(args.save)
    only = {p.strip().upper() for p in args.only.split(",")}
    note = " (N=1: single runs, not medians)" if args.runs == 1 else ""
    print(f"bench/suite.py: {args.runs} run(s) per figure on cloud {args.cloud}{note}", flush=True)
    if only & {"P1", "P3"}:
        p1_p3(args.cloud, args.lock, args.runs)
    if "P4" in only:
        p4(args.cloud, args.lock, args.runs)
    if "P2" in only:
        p2(args.cloud, args.lock, args.runs)


if __name__ == "__main__":
    main()
