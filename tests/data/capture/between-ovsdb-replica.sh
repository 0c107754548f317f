#!/bin/bash
# Records the OVSDB rows the facts between nodes read (X4, X5), as the three-node lab's compute2 (tunnel IP
# 198.51.100.12) has them: br-tun's vxlan ports to its two peers as neutron's Open vSwitch agent names and sets
# them (vxlan-<hex of the peer IP>, options local_ip/remote_ip/dst_port/in_key/out_key), br-int's geneve ports to
# the other chassis as ovn-controller makes them (ovn-<chassis[:6]>-0, options remote_ip/key/csum), and a southbound
# DB with the three chassis and their encaps (`ovn-sbctl chassis-add NAME geneve IP`, hostname set).
# Private ovsdb-servers on unix sockets under a temporary directory, ended by PID on exit; no vswitchd.
#
#   bash between-ovsdb-replica.sh OUTDIR
set -euo pipefail
OUT=$(realpath "$1"); D=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$D"; }
trap cleanup EXIT
ovsdb-tool create $D/conf.db /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server $D/conf.db --remote=punix:$D/db.sock --pidfile=$D/ovs.pid --unixctl=$D/ovs.ctl --detach \
  --log-file=$D/ovs.log
PIDS+=("$(cat $D/ovs.pid)")
vsctl() { ovs-vsctl --no-wait --db=unix:$D/db.sock "$@"; }
vsctl init
vsctl add-br br-int -- add-br br-tun
vsctl add-port br-int patch-tun -- set Interface patch-tun type=patch options:peer=patch-int
vsctl add-port br-tun patch-int -- set Interface patch-int type=patch options:peer=patch-tun
for peer in 198.51.100.1 198.51.100.11; do
  name=vxlan-$(printf '%02x' ${peer//./ })
  vsctl add-port br-tun $name -- set Interface $name type=vxlan options:df_default=true options:egress_pkt_mark=0 \
    options:in_key=flow options:local_ip=198.51.100.12 options:out_key=flow options:remote_ip=$peer \
    options:dst_port=4789
done
CH1=8f2c11a0-5b7e-4d3c-9a10-2b3c4d5e6f70; CH2=1e9d0c2b-3a4f-4b5c-8d6e-7f8091a2b3c4
CH0=b7c3e9d2-1f0a-4e6b-8c5d-4a3b2c1d0e9f
for ch in "$CH0 198.51.100.1" "$CH1 198.51.100.11"; do
  set -- $ch; name=ovn-${1:0:6}-0
  vsctl add-port br-int $name -- set Interface $name type=geneve options:csum=true options:key=flow \
    options:remote_ip=$2 external_ids:ovn-chassis-id=$1
done
vsctl set Open_vSwitch . external_ids:system-id=$CH2 external_ids:ovn-encap-ip=198.51.100.12 \
  external_ids:ovn-encap-type=geneve external_ids:hostname=compute2
ovsdb-tool create $D/ovnsb_db.db /usr/share/ovn/ovn-sb.ovsschema
ovsdb-server $D/ovnsb_db.db --remote=punix:$D/ovnsb_db.sock --pidfile=$D/ovnsb.pid --unixctl=$D/ovnsb.ctl \
  --detach --log-file=$D/ovnsb.log
PIDS+=("$(cat $D/ovnsb.pid)")
sb() { ovn-sbctl --db=unix:$D/ovnsb_db.sock "$@"; }
sb chassis-add $CH0 geneve 198.51.100.1 -- set Chassis $CH0 hostname=controller
sb chassis-add $CH1 geneve 198.51.100.11 -- set Chassis $CH1 hostname=compute1
sb chassis-add $CH2 geneve 198.51.100.12 -- set Chassis $CH2 hostname=compute2
for t in Open_vSwitch Bridge Port Interface; do vsctl --format=json list $t > "$OUT/compute2-ovs-list-$t.json"; done
sb --format=json list Chassis > "$OUT/ovn-sb-list-Chassis.json"
sb --format=json list Encap > "$OUT/ovn-sb-list-Encap.json"
