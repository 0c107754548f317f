"""The probe agent's real files (tests/data/captured/probe: a peer's link down for 3 s, its SSH listener gone, a
lease renewed) as series, with their loss and longest gap."""
import pathlib

from pytest_oslab.facts import probe

CAPTURED = pathlib.Path(__file__).resolve().parents[2] / "data" / "captured" / "probe"


def _read(name):
    return (CAPTURED / name).read_text()


def test_icmp_counts_each_echo_ping_sent_and_the_ones_answered():
    s = probe.icmp("workload-1", "ICMP from qdhcp-x", _read("icmp-workload-1.txt"))
    # ping's own statistics line: 84 packets transmitted, 72 received
    assert (s.total, s.lost) == (84, 12)
    assert s.line() == "workload-1 ICMP from qdhcp-x: lost 12 of 84, longest gap 3.3 s"


def test_icmp_gap_runs_from_the_last_answer_before_the_outage_to_the_first_after():
    s = probe.icmp("workload-1", "ICMP", _read("icmp-workload-1.txt"))
    # seq 37 answered at .540209, seq 50 at 687.995821: 3.46 s, less one 0.2 s spacing
    assert 0.20 <= s.spacing <= 0.21
    assert s.longest_gap == 3.3
    lost_at = [t for t, ok in zip(s.times, s.answered) if not ok]
    assert lost_at[0] == 1795659684.948103  # seq 38 placed where ping said "no answer yet" for it
    assert len(lost_at) == 12


def test_a_ping_started_again_appends_a_run_whose_echoes_count_too():
    text = _read("icmp-workload-1.txt")
    s = probe.icmp("workload-1", "ICMP", text + "\n" + text)
    assert (s.total, s.lost) == (168, 24)


def test_tcp_series_per_guest_with_timeouts_and_refusals_lost():
    s = probe.tcp("TCP 22 from qdhcp-x", _read("tcp.txt"))["workload-1"]
    assert (s.total, s.lost) == (18, 10)
    # the listener never came back: the gap runs to one spacing past the last probe
    assert s.longest_gap == 10.0


def test_leases_held_throughout_with_the_renewal_counted():
    s = probe.leases("DHCP lease (dnsmasq leases)", _read("leases.txt"))["workload-1"]
    assert (s.total, s.lost, s.renewals, s.longest_gap) == (9, 0, 1, 0.0)
    assert s.line().endswith("(1 renewal seen)")


def test_a_lease_missing_or_expired_is_lost():
    s = probe.leases("DHCP lease", "1000.0 g1 2000\n1002.0 g1 -\n1004.0 g1 1003\n1006.0 g1 90000\n")["g1"]
    assert s.answered == [True, False, False, True] and s.renewals == 1


def test_loss_over_time_puts_the_outage_in_its_slices():
    s = probe.icmp("workload-1", "ICMP", _read("icmp-workload-1.txt"))
    slices = probe.loss_over_time(s, s.start, s.end, buckets=10)
    assert len(slices) == 10
    lost = [round(p) for _, p in slices if p]
    assert lost and all(p > 0 for p in lost) and [p for _, p in slices].count(0.0) >= 7


def test_limits_name_the_guest_the_path_and_the_limit():
    s = probe.icmp("workload-1", "ICMP from qdhcp-x", _read("icmp-workload-1.txt"))
    assert probe.over_limits([s], max_loss=20, max_gap=5) == []
    assert probe.over_limits([s], None, None) == []
    (line,) = probe.over_limits([s], max_loss=1, max_gap=1)
    assert line == ("workload-1 ICMP from qdhcp-x: lost 12 of 84, longest gap 3.3 s: loss 14.3% over "
                    "--oslab-max-loss 1%; gap 3.3 s over --oslab-max-gap 1 s")


def test_a_series_round_trips_through_its_dict():
    s = probe.leases("DHCP lease", _read("leases.txt"))["workload-1"]
    again = probe.Series.from_dict(s.to_dict())
    assert (again.line(), again.renewals) == (s.line(), 1)
