"""The DHCP agent's wedge, read from its own log (lines of this lab's agent log of 2026-11-24, see tests/data)."""
from pathlib import Path

from pytest_oslab.lab.resources import wedge_reason

LOG = Path(__file__).resolve().parents[2] / "data" / "captured" / "lab-logs" / "neutron-dhcp-agent-privsep-wedge.log"


def test_the_first_line_that_tells_why_of_this_agent_process():
    assert wedge_reason(LOG, 27497).endswith("privsep log: greenlet.error: cannot switch to a different thread")
    assert "Premature eof waiting for privileged process" in wedge_reason(LOG, 17111)  # an earlier process's own


def test_no_reason_for_another_process_or_without_a_log(tmp_path):
    assert wedge_reason(LOG, 99999) == "" and wedge_reason(LOG, None) == ""
    assert wedge_reason(tmp_path / "absent.log", 27497) == ""


def test_an_agent_is_synced_once_its_own_sync_completed():
    from pytest_oslab.lab.resources import synced
    assert synced(LOG, 17111) is False  # that process's sync is not in these lines
    assert synced(LOG, 27497)  # its first sync, done before the lab had made its networks
    line = ("2026-11-24 05:59:42.749 30847 INFO neutron.agent.dhcp.agent [None req-be028e77-71d4-4f0a-a306-f970a48e38da "
            "- - - - - -] Synchronizing state complete")
    assert line in (LOG.parent / "neutron-dhcp-agent-resync.log").read_text()
    assert synced(LOG.parent / "neutron-dhcp-agent-resync.log", 30847)
