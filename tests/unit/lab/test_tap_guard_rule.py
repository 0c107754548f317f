"""tap_guard's rule: which link messages show a tap whose "up" ovs-vswitchd overwrote as it took it."""
from pytest_oslab.lab.tap_guard import lost_up

# the link flags (ifi_flags) netlink gives for a tap: as libvirt made it (BROADCAST, MULTICAST), the same promiscuous
# as ovs-vswitchd leaves it when it overwrote the "up", and up as libvirt means it
MADE, LEFT_DOWN, UP = 0x1002, 0x1102, 0x1103


def test_a_new_tap_left_promiscuous_and_down_is_brought_up():
    assert lost_up("tap52760863-da", LEFT_DOWN, age=0.4)


def test_a_tap_up_or_not_yet_taken_by_open_vswitch_is_left_alone():
    assert not lost_up("tap52760863-da", UP, age=0.4)
    assert not lost_up("tap52760863-da", MADE, age=0.4)  # libvirt brings it up itself


def test_a_tap_set_down_after_the_window_or_there_before_the_guard_is_left_alone():
    assert not lost_up("tap52760863-da", LEFT_DOWN, age=25.0)  # an operator's (or a breakage's) "down"
    assert not lost_up("tap52760863-da", LEFT_DOWN, age=None)
    assert lost_up("tap52760863-da", LEFT_DOWN, age=2.0, window=2.0)


def test_devices_other_than_taps_are_left_alone():
    assert not lost_up("qvo52760863-da", LEFT_DOWN, age=0.4)
    assert not lost_up("br-int", LEFT_DOWN, age=0.4)
