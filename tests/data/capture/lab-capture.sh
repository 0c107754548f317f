#!/bin/bash
# Records, read-only, what a running OpenStack lab on this host shows: the node's links, addresses, routes,
# iptables, sockets; for each network with a DHCP directory its qdhcp namespace, dnsmasq files and command line;
# for each running libvirt domain its XML. Changes nothing (only reads and lists).
#   bash lab-capture.sh OUTDIR
set -uo pipefail
OUT=$(realpath "$1"); mkdir -p "$OUT"
cap() { local f=$1; shift; "$@" > "$OUT/$f" 2>/dev/null || echo "exit $? from: $*" >> "$OUT/$f"; }
cap node-link.json ip -j -d link show
cap node-addr.json ip -j addr show
cap node-route.json ip -j route show
cap node-netns.txt ip netns
cap node-iptables-save.txt "$(command -v iptables-save || echo iptables-legacy-save)"
cap node-ss.txt ss -Htulpn
cap node-bridge-link.json bridge -j link show
cap virsh-list.txt virsh list --all
for dom in $(virsh list --name 2>/dev/null); do cap "virsh-dumpxml-$dom.xml" virsh dumpxml "$dom"; done
for dir in /var/lib/neutron/dhcp/*/; do
  net=$(basename "$dir"); ns=qdhcp-$net; short=${net:0:8}
  for f in host addn_hosts opts leases interface; do [ -f "$dir$f" ] && cp "$dir$f" "$OUT/dhcp-$short-$f"; done
  pid=$(cat "${dir}pid" 2>/dev/null) && [ -r "/proc/$pid/cmdline" ] && cp "/proc/$pid/cmdline" "$OUT/dnsmasq-$short-cmdline.bin"
  if ip netns list | grep -q "^$ns"; then
    cap "qdhcp-$short-link.json" ip netns exec "$ns" ip -j -d link show
    cap "qdhcp-$short-addr.json" ip netns exec "$ns" ip -j -d addr show
    cap "qdhcp-$short-route.json" ip netns exec "$ns" ip -j route show
    cap "qdhcp-$short-ss.txt" ip netns exec "$ns" ss -Htulpn
  fi
done
echo "captured $(date -u +%FT%TZ) on $(uname -r) from the running lab, read-only" > "$OUT/CAPTURED"
