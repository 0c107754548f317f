"""The plugin core against the real lab (``oslab lab up``): provision, reach nodes and guests, clean up.

Each scenario runs in its own pytest session (``--cloud lab``), exactly as an operator runs the suites, so that
the session's end -- where everything the run made is deleted -- is part of what is checked: afterwards this
test looks through the admin API for anything tagged with that run, and compares the lab's own resources with
a snapshot taken before. Nothing here pretends to be a cloud.
"""
import json
import re
import time
import warnings
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def lab_admin():
    import openstack
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openstack.connect(cloud="lab-admin")


@pytest.fixture(scope="module")
def lab_member():
    import openstack
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openstack.connect(cloud="lab")


def _ours(resource) -> bool:
    return "oslab" in (getattr(resource, "tags", None) or []) or (getattr(resource, "name", "") or "").startswith(
        "oslab-")


def snapshot(admin):
    """The lab's own resources (not the suite's), with the attributes a careless test could change."""
    n, c = admin.network, admin.compute
    snap = {}
    for x in n.networks():
        if not _ours(x):
            snap[("network", x.id)] = (x.name, x.status, x.mtu, x.provider_network_type,
                                       x.provider_segmentation_id, tuple(sorted(x.subnet_ids)), x.is_shared,
                                       x.is_router_external, x.is_admin_state_up)
    for x in n.subnets():
        if not _ours(x):
            snap[("subnet", x.id)] = (x.name, x.cidr, x.gateway_ip, json.dumps(x.allocation_pools),
                                      x.is_dhcp_enabled, tuple(x.dns_nameservers or ()))
    for x in n.routers():
        if not _ours(x):
            interfaces = tuple(sorted(p.id for p in n.ports(device_id=x.id)))
            snap[("router", x.id)] = (x.name, x.status, json.dumps(x.external_gateway_info, sort_keys=True),
                                      interfaces)
    for x in n.security_groups():
        if not _ours(x):
            snap[("security group", x.id)] = (x.name, tuple(sorted(r["id"] for r in x.security_group_rules)))
    for x in n.agents():
        snap[("agent", x.id)] = (x.host, x.agent_type, x.is_admin_state_up)
    for x in c.servers(all_projects=True):
        if not _ours(x):
            snap[("server", x.id)] = (x.name, x.status)
    for x in c.flavors():
        if not _ours(x):
            snap[("flavor", x.id)] = (x.name, x.ram, x.vcpus, x.disk)
    for x in admin.image.images():
        snap[("image", x.id)] = (x.name, x.status, x.checksum)
    return snap


def assert_untouched(before, after):
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    assert not changed, f"the lab's own resources changed: {changed}"


def leftovers(admin, member, run_id):
    """Everything of run ``run_id`` still in the cloud."""
    tag = f"oslab-run-{run_id}"
    n = admin.network
    found = [f"server {s.name}" for s in admin.compute.servers(all_projects=True, tags=tag)]
    for kind, listing in (("network", n.networks), ("subnet", n.subnets), ("port", n.ports),
                          ("router", n.routers), ("security group", n.security_groups), ("floating ip", n.ips)):
        found += [f"{kind} {x.name or x.id}" for x in listing(tags=tag)]
    found += [f"keypair {k.name}" for k in member.compute.keypairs() if k.name.startswith(f"oslab-{run_id}-")]
    found += [f"flavor {f.name}" for f in admin.compute.flavors() if f.name.startswith(f"oslab-{run_id}-")]
    return found


def run_scenario(pytester, monkeypatch, name, *args):
    out = pytester.path / "records.jsonl"
    monkeypatch.setenv("OSLAB_SCENARIO_OUT", str(out))
    pytester.makepyfile(**{f"test_{name}": (HERE / f"scenario_{name}.py").read_text()})
    start = time.monotonic()
    result = pytester.runpytest_subprocess("--cloud", "lab", "-p", "no:cacheprovider", "-v", *args, timeout=900)
    elapsed = time.monotonic() - start
    text = result.stdout.str()
    match = re.search(r"oslab: cloud lab .*, run (\w+),", text)
    assert match, text
    records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return result, match.group(1), records, elapsed


def test_a_server_on_each_network_reached_through_nodes_and_namespaces(pytester, monkeypatch, lab_admin,
                                                                       lab_member):
    before = snapshot(lab_admin)
    result, run_id, records, elapsed = run_scenario(pytester, monkeypatch, "core", "--durations=0")
    print(result.stdout.str()[-6000:])
    result.assert_outcomes(passed=2)
    created = dict(records)["created"]
    timings = dict(records)["timings"]
    print(f"lab scenario run {run_id}: {elapsed:.1f}s in all; {timings}")
    assert len(created["server"]) == 2
    assert leftovers(lab_admin, lab_member, run_id) == []
    for sid in created["server"]:
        assert lab_admin.compute.find_server(sid, ignore_missing=True) is None
    for kind, find in (("network", lab_admin.network.find_network), ("subnet", lab_admin.network.find_subnet),
                       ("router", lab_admin.network.find_router),
                       ("security group", lab_admin.network.find_security_group)):
        for rid in created[kind]:
            assert find(rid, ignore_missing=True) is None, f"{kind} {rid} still there"
    assert lab_member.compute.find_keypair(created["keypair"][0], ignore_missing=True) is None
    assert_untouched(before, snapshot(lab_admin))


def test_two_xdist_workers_share_the_run_and_never_clash(pytester, monkeypatch, lab_admin, lab_member):
    result, run_id, records, _ = run_scenario(pytester, monkeypatch, "xdist", "-n", "2")
    result.assert_outcomes(passed=4)
    made = [value for kind, value in records if kind == "made"]
    workers = {m["worker"]: m for m in made}
    assert set(workers) == {"gw0", "gw1"} and {m["run"] for m in made} == {run_id}
    for field in ("network", "subnet", "sg", "keypair"):  # one per worker, reused by its tests, never shared
        assert len({json.dumps(m[field]) for m in made}) == 2, field
    assert workers["gw0"]["network"][1] == f"oslab-{run_id}-gw0-selfservice"
    assert workers["gw1"]["keypair"] == f"oslab-{run_id}-gw1-key"
    assert workers["gw0"]["subnet"][1] != workers["gw1"]["subnet"][1]
    assert leftovers(lab_admin, lab_member, run_id) == []


def test_keep_leaves_resources_and_oslab_cleanup_removes_only_them(pytester, monkeypatch, lab_admin, lab_member,
                                                                   capsys):
    from pytest_oslab.provision import cleanup
    before = snapshot(lab_admin)
    pytester.makepyfile(test_keep="def test_make(selfservice_subnet, security_group, keypair): pass\n")
    result = pytester.runpytest_subprocess("--cloud", "lab", "--oslab-keep", "-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=1)
    assert "oslab: --oslab-keep: leaving 4 resources" in result.stdout.str()
    run_id = re.search(r", run (\w+),", result.stdout.str()).group(1)
    kept = leftovers(lab_admin, lab_member, run_id)
    assert len([k for k in kept if not k.startswith("port ")]) == 4, kept
    assert cleanup.main(["--cloud", "lab", "--run", run_id, "--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert listed.count("would delete") == 4 and "(run " + run_id + ")" in listed
    assert cleanup.main(["--cloud", "lab", "--run", run_id]) == 0
    assert leftovers(lab_admin, lab_member, run_id) == []
    assert_untouched(before, snapshot(lab_admin))


def test_bad_credentials_and_missing_admin_rights_are_one_line(pytester, monkeypatch, tmp_path):
    entry = yaml.safe_load(Path("/etc/openstack/clouds.yaml").read_text())["clouds"]["lab"]
    entry["auth"]["password"] = "Wrong-Password-4711"
    (tmp_path / "clouds.yaml").write_text(yaml.safe_dump({"clouds": {"badlab": entry}}))
    (tmp_path / "secure.yaml").write_text("clouds: {}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    monkeypatch.setenv("OS_CLIENT_SECURE_FILE", str(tmp_path / "secure.yaml"))
    pytester.makepyfile(test_bad="def test_a(cloud): pass\n")
    result = pytester.runpytest_subprocess("--cloud", "badlab", "-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert ("oslab: cloud 'badlab': authentication failed at http://127.0.0.1:5000/v3 (HTTP 401): check the "
            "user, password and project in clouds.yaml") in out
    assert "Traceback" not in out and "Wrong-Password-4711" not in out
    monkeypatch.delenv("OS_CLIENT_CONFIG_FILE")
    monkeypatch.delenv("OS_CLIENT_SECURE_FILE")
    pytester.makepyfile(test_bad="def test_a(admin_cloud): pass\n")
    result = pytester.runpytest_subprocess("--cloud", "lab", "--admin-cloud", "lab", "-rs", "-p", "no:cacheprovider",
                                           timeout=120)
    result.assert_outcomes(skipped=1)
    assert "needs admin rights: cloud 'lab' has no admin role" in result.stdout.str()
