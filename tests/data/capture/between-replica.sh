#!/bin/bash
# Builds, inside a private network namespace, what the Linux bridge agent with l2population makes on compute2
# (tunnel IP 198.51.100.12) of the three-node lab for a vxlan network (VNI 610, MTU 1450) with ports on the
# controller (198.51.100.1: the DHCP port and the router's interface) and on compute1 (198.51.100.11: a server):
# vxlan-610 in brq<net> with a tap, a flood entry per peer and each remote port's MAC at its host
# (`bridge fdb append|replace ... dst`, as the agent runs them), then records the real outputs under OUTDIR.
#
#   unshare --net bash between-replica.sh OUTDIR
set -euo pipefail
OUT=$(realpath "$1")
ip link set lo up
ip link add oslab-vx0 type veth peer name oslab-vx1        # the underlay: the node's tunnel address
ip link set oslab-vx0 mtu 1500 up; ip link set oslab-vx1 up
ip addr add 198.51.100.12/24 dev oslab-vx0
ip link add brq0b0cbe46-4c type bridge
ip link add vxlan-610 type vxlan id 610 local 198.51.100.12 dev oslab-vx0 dstport 8472 nolearning
ip link set vxlan-610 mtu 1450 master brq0b0cbe46-4c up
ip link set brq0b0cbe46-4c mtu 1450 up
ip tuntap add dev tap5d1f3c2a-9e mode tap
ip link set tap5d1f3c2a-9e mtu 1450 master brq0b0cbe46-4c up
bridge fdb append 00:00:00:00:00:00 dev vxlan-610 dst 198.51.100.1
bridge fdb append 00:00:00:00:00:00 dev vxlan-610 dst 198.51.100.11
bridge fdb replace fa:16:3e:47:84:73 dev vxlan-610 dst 198.51.100.1    # the DHCP port, on the controller
bridge fdb replace fa:16:3e:0c:5b:21 dev vxlan-610 dst 198.51.100.1    # the router's interface
bridge fdb replace fa:16:3e:a2:19:6e dev vxlan-610 dst 198.51.100.11   # the server on compute1
bridge -j fdb show >"$OUT/compute2-fdb.json"
ip -j -d addr show >"$OUT/compute2-addr.json"
