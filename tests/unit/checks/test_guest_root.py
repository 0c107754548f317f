"""Changing a guest's NICs (H4/H6) needs root: root's commands as they are, another login user's (cirros' own
``cirros``) through ``sudo -n`` when the guest has sudo, and a busybox-only guest without sudo is a skip naming
the user and what to set (issue 19 point 11), never a failure of the cloud."""
import shlex
from types import SimpleNamespace

import pytest
from openstack.network.v2.port import Port
from openstack.network.v2.subnet import Subnet

import recording
from pytest_oslab.checks import guests
from pytest_oslab.outcomes import outcome

BEFORE = "seeds/004-server1-ip-addr-before.txt"  # the new NIC ens6 seen, down, without an address
PORT = Port(id="5e8c7b1a-0f3d-4c2e-9a6b-7d1e2f3a4b5c", mac_address="fa:16:3e:b3:33:ae",
            fixed_ips=[{"subnet_id": "s1", "ip_address": "172.16.0.11"}])
SUBNET = Subnet(id="s1", cidr="172.16.0.0/24")


class Guest(recording.Replay):
    def __init__(self, user, answers):
        super().__init__(answers, SimpleNamespace(name="hotplug-1"))
        self.user, self.asked = user, []

    def run(self, command, timeout=None):
        self.asked.append(command)
        return super().run(command, timeout)


ADD = "{ ip addr add 172.16.0.11/24 dev ens6 || ip addr show dev ens6 | grep -qF 'inet 172.16.0.11/24 '; } " \
      "&& ip link set ens6 up"


def test_root_configures_the_nic_as_seed_004_does():
    guest = Guest("root", {"ip addr": BEFORE, ADD: recording.Text("")})
    guests.configure_nic(guest, "ens6", PORT, SUBNET)
    assert guest.asked == ["ip addr", ADD]


def test_another_user_goes_through_sudo_when_the_guest_has_it():
    sudo = f"sudo -n sh -c {shlex.quote(ADD)}"
    guest = Guest("cirros", {"ip addr": BEFORE, "command -v sudo": recording.Text("/usr/bin/sudo\n"),
                             sudo: recording.Text("")})
    guests.configure_nic(guest, "ens6", PORT, SUBNET)
    assert guest.asked[-1] == sudo


def test_a_busybox_guest_without_sudo_is_a_skip_naming_the_user_and_what_to_set():
    guest = Guest("cirros", {"ip addr": BEFORE})
    with pytest.raises(pytest.skip.Exception) as skipped:
        with outcome():
            guests.configure_nic(guest, "ens6", PORT, SUBNET)
    assert skipped.value.msg == ("guest hotplug-1: changing its NICs needs root; the login user cirros is not root "
                                 "and the guest has no sudo (set oslab.image and oslab.image_user in clouds.yaml to "
                                 "an image whose user is root or has passwordless sudo)")
    assert not any(c.startswith(("ip addr add", "ip link")) for c in guest.asked)
