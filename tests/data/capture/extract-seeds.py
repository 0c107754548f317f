"""Copies command outputs verbatim out of the seed notebooks into tests/data/seeds/.

    python3 extract-seeds.py SEEDS_DIR [OUT_DIR]

Each entry names the fixture, the seed (its number), the line that shows the command (the n-th line holding
that text) and how the output follows it:
  "block"  - the notebook shows the command in one fenced block and its output in the next (seeds 000, 001, 003);
  "prompt" - the output follows the prompt line in the same block, up to the next prompt or the block's end
             (seeds 002, 004).
The only change: the notebooks' elision marker "(...)" and the blank line after it are left out.
"""
import pathlib
import re
import sys

PROMPT = re.compile(r"^(\[\w+@[\w-]+ [^\]]*\][$#]|\w+@[\w-]+:[^ ]*[$#]|[$#]) ")

EXCERPTS = [
    # seed 000: instance on a flat network, Open vSwitch (compute node)
    ("000-guest-ip-addr.txt", "000", "/sbin/ip addr", 1, "block"),
    ("000-dhcp-leases", "000", "/leases", 1, "block"),
    ("000-dhcp-host", "000", "/host", 1, "block"),
    ("000-dhcp-addn_hosts", "000", "/addn_hosts", 1, "block"),
    ("000-virsh-list.txt", "000", "virsh list", 1, "block"),
    ("000-virsh-interface.xml", "000", "virsh dumpxml", 1, "block"),
    ("000-ip-d-link.txt", "000", "ip -d link show", 1, "block"),
    ("000-ovs-vsctl-show.txt", "000", "ovs-vsctl show", 1, "block"),
    # seed 001: instance on a vxlan network, Linux bridge (compute node)
    ("001-dhcp-leases", "001", "/leases", 1, "block"),
    ("001-dhcp-host", "001", "/host", 1, "block"),
    ("001-dhcp-addn_hosts", "001", "/addn_hosts", 1, "block"),
    ("001-virsh-list.txt", "001", "virsh list", 1, "block"),
    ("001-virsh-interface.xml", "001", "virsh dumpxml", 1, "block"),
    ("001-ip-d-link.txt", "001", "ip -d link show", 1, "block"),
    ("001-iptables-L.txt", "001", "iptables -L", 1, "block"),
    # seed 002: Pike, Linux bridge, flat provider network (controller and compute)
    ("002-nova-status.txt", "002", "nova-status upgrade check", 1, "prompt"),
    ("002-ip-a-show-eth2.txt", "002", "ip a show eth2", 1, "prompt"),
    ("002-ps-ef-dnsmasq.txt", "002", "ps -ef | grep dns", 1, "prompt"),
    ("002-brctl-show-controller.txt", "002", "brctl show", 1, "prompt"),
    ("002-ip-a-show-brq.txt", "002", "ip a show brq59fe11c2-21", 1, "prompt"),
    ("002-ip-a-show-tap.txt", "002", "ip a show tap8e7ff5b5-3f", 1, "prompt"),
    ("002-ip-netns.txt", "002", "$ ip netns", 1, "prompt"),
    ("002-qdhcp-ip-a.txt", "002", "ip netns exec qdhcp-59fe11c2-2131-4a9b-b708-e855c3c6ac25 ip a", 1, "prompt"),
    ("002-qdhcp-ip-r.txt", "002", "ip netns exec qdhcp-59fe11c2-2131-4a9b-b708-e855c3c6ac25 ip r", 1, "prompt"),
    ("002-ip-r-controller.txt", "002", "$ ip r", 1, "prompt"),
    ("002-arping-brq.txt", "002", "arping -I brq59fe11c2-21 -c3 192.168.31.70", 1, "prompt"),
    ("002-arp-n-controller.txt", "002", "$ arp -n", 1, "prompt"),
    ("002-arp-n-compute.txt", "002", "$ arp -n", 2, "prompt"),
    ("002-qdhcp-arping.txt", "002", "arping -c3 192.168.31.1", 1, "prompt"),
    ("002-brctl-show-compute.txt", "002", "brctl show", 2, "prompt"),
    ("002-ip-a-show-tap-compute.txt", "002", "ip a show tap14d72434-b8", 1, "prompt"),
    ("002-virsh-list.txt", "002", "virsh list", 1, "prompt"),
    ("002-virsh-domiflist.txt", "002", "virsh domiflist 2", 1, "prompt"),
    ("002-guest-ip-a.txt", "002", "$ ip a", 6, "prompt"),
    ("002-guest-arping.txt", "002", "arping -c3 -I eth0 192.168.31.5", 1, "prompt"),
    # seed 003: flat network, Open vSwitch (controller with the DHCP agent)
    ("003-ip-netns.txt", "003", "ip netns", 1, "block"),
    ("003-ip-d-link.txt", "003", "ip -d link show", 1, "block"),
    ("003-qdhcp-ip-d-link.txt", "003", "ip -d link show", 2, "block"),
    ("003-ovs-vsctl-show.txt", "003", "ovs-vsctl show", 1, "block"),
    ("003-qdhcp-ip-addr.txt", "003", "ip addr show", 1, "block"),
    ("003-qdhcp-ip-route.txt", "003", "ip route", 1, "block"),
    ("003-qdhcp-ss-ano4.txt", "003", "ss -ano -4", 1, "block"),
    ("003-dnsmasq-ps.txt", "003", "ps ax | grep dnsmasq", 1, "block"),
    ("003-dhcp-interface", "003", "/interface", 1, "block"),
    # seed 004: port hot-plug (Newton; server1 runs Ubuntu, server2 CirrOS); its second, markdown copy
    ("004-server1-ip-addr-before.txt", "004", "ubuntu@server1:~$ ip addr", 2, "prompt"),
    ("004-server1-ip-addr-after.txt", "004", "root@server1:~# ip addr", 5, "prompt"),
    ("004-server2-ip-addr-before.txt", "004", "$ ip addr", 4, "prompt"),
    ("004-server2-ip-addr-after.txt", "004", "# ip addr", 9, "prompt"),
    ("004-server1-ip-addr-reattached.txt", "004", "root@server1:~# ip addr", 6, "prompt"),
]


def _find(lines, text, nth):
    hits = [i for i, line in enumerate(lines) if text in line]
    return hits[nth - 1]


def _block_after(lines, at):
    i = at + 1
    while not lines[i].startswith("```"):     # close of the command's block
        i += 1
    i += 1
    while not lines[i].startswith("```"):     # open of the output's block
        i += 1
    end = i + 1
    while not lines[end].startswith("```"):
        end += 1
    return lines[i + 1:end]


def _after_prompt(lines, at):
    end = at + 1
    while end < len(lines) and not lines[end].startswith("```") and not PROMPT.match(lines[end]):
        end += 1
    return lines[at + 1:end]


def excerpt(text, marker, nth, how):
    lines = text.splitlines(keepends=True)
    at = _find(lines, marker, nth)
    out = _block_after(lines, at) if how == "block" else _after_prompt(lines, at)
    if out and out[0].strip() == "(...)":
        out = out[2:] if len(out) > 1 and not out[1].strip() else out[1:]
    return "".join(out)


def main(seeds_dir, out_dir):
    seeds = {p.name[:3]: p for p in pathlib.Path(seeds_dir).glob("*.txt")}
    for name, seed, marker, nth, how in EXCERPTS:
        text = seeds[seed].read_text(encoding="utf-8")
        (pathlib.Path(out_dir) / name).write_text(excerpt(text, marker, nth, how), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else pathlib.Path(__file__).resolve().parent.parent / "seeds")
