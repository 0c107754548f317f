from pytest_oslab.facts import nova_status

WRAPPED = """\
+------------------------------------------------------------------+
| Upgrade Check Results                                            |
+------------------------------------------------------------------+
| Check: Older than N-1 computes                                   |
| Result: Warning                                                  |
| Details: Current Nova version does not support computes older    |
|   than Yoga but the minimum compute service level in your cell   |
+------------------------------------------------------------------+
"""


def test_seed_002_every_check_succeeds_c2(data):
    checks = nova_status.parse_upgrade_check(data("seeds/002-nova-status.txt"))
    assert [c.name for c in checks] == ["Cells v2", "Placement API", "Resource Providers"]
    assert all(c.ok and c.result == "Success" and c.details is None for c in checks)


def test_wrapped_details_are_joined():
    (check,) = nova_status.parse_upgrade_check(WRAPPED)
    assert (check.name, check.result, check.ok) == ("Older than N-1 computes", "Warning", False)
    assert check.details.startswith("Current Nova version") and check.details.endswith("in your cell")
