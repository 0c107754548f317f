"""The HTML report's own parts: file names, secrets masked, failures as expected vs actual, evidence panels."""
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_oslab.evidence import SECTION_PREFIX, Record
from pytest_oslab.report import html
from pytest_oslab.secrets import SECRETS

MESSAGE = """the tap is UP at the network's MTU, in its bridge, with the port's MAC [server vm1 (5aa817f3), port 60ad2c85, device tap60ad2c85-f3, node vm]:
  - MTU: expected 1450 (network MTU), actual 1400
  - master: expected brq8cc956e4-a1, actual nothing
  - device tap60ad2c85-f3 is not UP"""


def test_default_paths_name_cloud_time_and_phase_and_never_overwrite(tmp_path):
    paths = html.default_paths(tmp_path, "lab/admin", "pre", True, True, now=0)
    assert paths.html == tmp_path / "oslab-lab-admin-19700101-000000-pre.html"
    assert paths.junit == tmp_path / "oslab-lab-admin-19700101-000000-pre.xml"
    paths.html.write_text("x")
    again = html.default_paths(tmp_path, "lab/admin", "pre", True, False, now=0)
    assert again.html.name == "oslab-lab-admin-19700101-000000-pre-2.html" and again.junit is None


@pytest.mark.parametrize("text, hidden", [
    ("transport_url = rabbit://openstack:Rabbit-Pw-1@127.0.0.1:5672/", "Rabbit-Pw-1"),
    ("connection = mysql+pymysql://nova:Db-Pw-22@127.0.0.1/nova", "Db-Pw-22"),
    ('{"password": "Json-Pw-333", "user": "x"}', "Json-Pw-333"),
    ("admin_token: tok-4444", "tok-4444"),
    ("openstack --os-password Cli-Pw-5 server list", "Cli-Pw-5"),
    ("X-Auth-Token: gAAAAAB-token-value", "gAAAAAB-token-value"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
     "PRIVATE KEY"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA (cut off)", "MIIEpAIBAAKCAQEA"),
])
def test_scrub_masks_credentials_whatever_printed_them(text, hidden):
    assert hidden not in html.scrub(text)


def test_scrub_masks_the_run_s_registered_secrets_and_leaves_ordinary_words():
    SECRETS.add("Registered-Secret-991")
    assert html.scrub("dnsmasq says Registered-Secret-991") == "dnsmasq says <redacted>"
    plain = "Permission denied (publickey,password).\nneutron-linuxbri-sg-chain -j RETURN"
    assert html.scrub(plain) == plain


def test_scrub_file_masks_secrets_and_key_blocks_in_a_written_report(tmp_path):
    SECRETS.add("File-Secret-7781")
    path = tmp_path / "r.html"
    path.write_text('{"log": "File-Secret-7781 -----BEGIN OPENSSH PRIVATE KEY-----\\nAAAA\\n'
                    '-----END OPENSSH PRIVATE KEY-----"}')
    assert html.scrub_file(path) is True
    text = path.read_text()
    assert "File-Secret-7781" not in text and "PRIVATE KEY" not in text
    assert html.scrub_file(path) is False


def test_a_check_failure_reads_as_expected_against_actual():
    [failure] = html.parse_failures(MESSAGE)
    assert failure.statement.startswith("the tap is UP")
    assert failure.where.endswith("node vm")
    assert [(m.what, m.expected, m.source, m.actual) for m in failure.mismatches] == [
        ("MTU", "1450", "network MTU", "1400"), ("master", "brq8cc956e4-a1", "", "nothing")]
    assert failure.problems == ["device tap60ad2c85-f3 is not UP"]


def test_several_failures_and_a_waited_one_are_told_apart():
    text = ("the guest reaches 10.0.0.5 by ping [server a (1)]: (still so after 30s)\n  - ping 10.0.0.5: expected replies,"
            " actual none (0 received)\nthe lease [port 2]:\n  - lease: expected fa:16:3e:aa, actual no lease")
    first, second = html.parse_failures(text)
    assert first.note == "still so after 30s" and first.problems == ["ping 10.0.0.5: expected replies, actual none "
                                                                     "(0 received)"] or first.mismatches
    assert second.mismatches[0].actual == "no lease"
    assert html.parse_failures("oslab: node vm: unreachable")[0].statement == "oslab: node vm: unreachable"


def _report(outcome="failed", sections=(), message=MESSAGE, when="call"):
    """A report as the plugin leaves it: the evidence sections, and the same evidence as records."""
    crash = SimpleNamespace(message=f"pytest_oslab.checks.core.CheckFailed: {message}")
    records = [tuple(Record.of(title[len(SECTION_PREFIX):], text)) for title, text in sections
               if title.startswith(SECTION_PREFIX)]
    return SimpleNamespace(failed=outcome == "failed", passed=outcome == "passed", when=when,
                           longrepr=SimpleNamespace(reprcrash=crash), longreprtext=message, sections=list(sections),
                           oslab_evidence=records)


def test_the_panel_shows_the_failure_table_and_each_command_collapsed():
    sections = [("oslab: vm: ip -j -d addr show", '[{"ifname": "tap60ad2c85-f3", "mtu": 1400}]'),
                ("Captured stdout call", "not evidence"), ("oslab: console log of vm1", "login:")]
    panel = html.test_panel(_report(sections=sections))
    assert '<td class="oslab-bad">1400</td>' in panel and "(network MTU)" in panel
    assert panel.count("<details") == 2 and '<span class="oslab-node">vm</span>' in panel
    assert "ip -j -d addr show" in panel and "not evidence" not in panel
    assert "&quot;mtu&quot;:1400" in panel  # outputs are escaped, never markup


def test_a_passing_test_keeps_head_and_tail_of_a_long_output():
    long = "".join(f"line {i}\n" for i in range(2000))
    panel = html.test_panel(_report("passed", [("oslab: vm: ps", long)]))
    assert "line 0\n" in panel and "line 1999" in panel and "characters trimmed" in panel
    assert len(panel) < html.PASSED_LIMIT + 1000 and "oslab-failure" not in panel


def test_the_log_cell_loses_the_evidence_sections_and_keeps_the_rest():
    log = ["Traceback...\n", f"{' oslab: vm: ip addr ':-^80}\nevidence", f"{' Captured log call ':-^80}\nINFO x"]
    assert html.without_evidence(log) == ["Traceback...\n", f"{' Captured log call ':-^80}\nINFO x"]
    assert html.without_evidence([f"{' oslab: a ':-^80}\nx"]) == ["No log output captured."]


def test_the_stylesheet_ships_with_the_package():
    assert html.stylesheet().startswith("<style>") and ".oslab-ev" in html.stylesheet()
    assert Path(html.__file__).with_name("assets").joinpath("oslab.css").exists()


def test_a_long_evidence_header_has_no_dashes_and_still_goes():
    title = "oslab: vm: cat /var/lib/neutron/dhcp/1d6b4d03-469f-4671-a4f7-2bf09491ce93/opts"
    assert html.without_evidence([f"{' ' + title + ' ':-^80}\ntag:x", "kept"]) == ["kept"]


def test_one_line_json_evidence_shows_one_element_per_line():
    assert html.readable('[{"ifname": "lo"}, {"ifname": "ns-1"}]') == '[\n{"ifname":"lo"},\n{"ifname":"ns-1"}\n]\n'
    assert html.readable("[... 10 characters trimmed ...]\n\"x\"}]") .startswith("[...")
    assert html.readable("plain\n") == "plain\n"
