#!/bin/bash
# Builds, inside a private network + mount namespace, the Open vSwitch bridges neutron's OVS agent makes on a
# flat network (seed 000/003: br-int and br-provider patched together, the instance tap with local VLAN tag 1)
# with the userspace datapath, and an OVN northbound/southbound pair with one logical switch, two ports and a
# chassis; then records the real ovs-vsctl / ovn-nbctl / ovn-sbctl outputs under OUTDIR.
# Nothing outside the private namespace is touched; every daemon it starts is ended by pid on exit.
#
#   unshare --net --mount --propagation private bash ovs-ovn-replica.sh OUTDIR ROOT
#
# ROOT: where Debian 12's openvswitch-common, openvswitch-switch, ovn-common and ovn-central .debs were
# extracted with dpkg -x (nothing installed on the host).
set -euo pipefail
OUT=$(realpath "$1"); ROOT=$(realpath "$2")
mount -t tmpfs tmpfs /run
D=/run/ovs; mkdir -p $D
export PATH=$ROOT/usr/bin:$ROOT/usr/sbin:$ROOT/usr/lib/openvswitch-switch:$PATH
export OVS_RUNDIR=$D OVS_DBDIR=$D OVS_LOGDIR=$D OVS_SYSCONFDIR=$D OVS_PKGDATADIR=$ROOT/usr/share/openvswitch
export OVN_RUNDIR=$D OVN_DBDIR=$D OVN_LOGDIR=$D OVN_SYSCONFDIR=$D OVN_PKGDATADIR=$ROOT/usr/share/ovn
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
waitfor() { for _ in $(seq 1 50); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "TIMEOUT: $1" >&2; return 1; }

NET=85f372ef-f39a-42bb-a06b-9f9ed8e4e58e   # seed 000/003: the flat network "provider"
PORT=60ad2c85-f31e-4b2a-8c7d-9e0f1a2b3c4d; PORT_MAC=fa:16:3e:e9:6a:38; PORT_IP=172.17.0.153
DHCP=43bf8dcc-083a-4c61-8d5f-bd6c7e763e5b; DHCP_MAC=fa:16:3e:4a:1e:19; DHCP_IP=172.17.0.0
VM=5aa817f3-b106-42b0-95d6-f2a8d1b6bea0
ip link set lo up

# a fake OpenFlow controller on 127.0.0.1:6633 (the OVS agent's role): HELLO, then ECHO replies
python3 - <<'EOF' &
import socket, struct, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 6633)); s.listen()
def serve(c):
    c.sendall(struct.pack("!BBHI", 4, 0, 8, 1))
    while True:
        hdr = c.recv(8)
        if len(hdr) < 8: return
        v, t, n, x = struct.unpack("!BBHI", hdr)
        body = c.recv(n - 8) if n > 8 else b""
        if t == 2: c.sendall(struct.pack("!BBHI", v, 3, n, x) + body)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
EOF
PIDS+=($!)

ovsdb-tool create $D/conf.db $OVS_PKGDATADIR/vswitch.ovsschema
ovsdb-server $D/conf.db --remote=punix:$D/db.sock --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
  --pidfile=$D/ovsdb-server.pid --detach --log-file=$D/ovsdb-server.log
PIDS+=("$(cat $D/ovsdb-server.pid)")
vsctl() { ovs-vsctl --db=unix:$D/db.sock "$@"; }
vsctl --no-wait init
vsctl --no-wait set Open_vSwitch . ovs_version=3.1.0 other_config:userspace-tso-enable=true \
  external_ids:system-id=0d7c6a1e-3f2b-4c5d-9e8f-7a6b5c4d3e2f external_ids:hostname=compute
ovs-vswitchd unix:$D/db.sock --pidfile=$D/ovs-vswitchd.pid --detach --log-file=$D/ovs-vswitchd.log
PIDS+=("$(cat $D/ovs-vswitchd.pid)")
vsctl set-manager ptcp:6640:127.0.0.1
for br in br-int br-provider; do
  vsctl -- --may-exist add-br $br -- set Bridge $br datapath_type=netdev fail_mode=secure \
    protocols=OpenFlow10,OpenFlow13,OpenFlow14 -- set-controller $br tcp:127.0.0.1:6633
done
ip link add eth0 type veth peer name eth0-peer; ip link set eth0 up; ip link set eth0-peer up
vsctl add-port br-provider eth0
vsctl add-port br-int int-br-provider -- set Interface int-br-provider type=patch options:peer=phy-br-provider
vsctl add-port br-provider phy-br-provider -- set Interface phy-br-provider type=patch options:peer=int-br-provider
ip tuntap add dev tap${PORT:0:11} mode tap
ip link set tap${PORT:0:11} address fe:${PORT_MAC:3} mtu 1500 up
vsctl add-port br-int tap${PORT:0:11} tag=1 \
  other_config:net_uuid=$NET other_config:network_type=flat other_config:physical_network=provider \
  other_config:tag=1 -- set Interface tap${PORT:0:11} external_ids:iface-id=$PORT \
  external_ids:attached-mac=$PORT_MAC external_ids:iface-status=active external_ids:vm-uuid=$VM
vsctl add-port br-int tap${DHCP:0:11} tag=1 \
  other_config:net_uuid=$NET other_config:network_type=flat other_config:physical_network=provider \
  other_config:tag=1 -- set Interface tap${DHCP:0:11} type=internal external_ids:iface-id=$DHCP \
  external_ids:attached-mac=$DHCP_MAC external_ids:iface-status=active
waitfor "vsctl --columns=is_connected list Controller | grep -q true" || true
sleep 1

# OVN: NB and SB databases, northd, one switch with a VM port and the metadata localport, one chassis
ovsdb-tool create $D/ovnnb_db.db $OVN_PKGDATADIR/ovn-nb.ovsschema
ovsdb-tool create $D/ovnsb_db.db $OVN_PKGDATADIR/ovn-sb.ovsschema
ovsdb-server $D/ovnnb_db.db --remote=punix:$D/ovnnb_db.sock --pidfile=$D/ovnnb.pid \
  --unixctl=$D/ovnnb.ctl --detach --log-file=$D/ovnnb.log
PIDS+=("$(cat $D/ovnnb.pid)")
ovsdb-server $D/ovnsb_db.db --remote=punix:$D/ovnsb_db.sock --pidfile=$D/ovnsb.pid \
  --unixctl=$D/ovnsb.ctl --detach --log-file=$D/ovnsb.log
PIDS+=("$(cat $D/ovnsb.pid)")
ovn-northd --ovnnb-db=unix:$D/ovnnb_db.sock --ovnsb-db=unix:$D/ovnsb_db.sock --pidfile=$D/northd.pid \
  --detach --log-file=$D/northd.log
PIDS+=("$(cat $D/northd.pid)")
nb() { ovn-nbctl --db=unix:$D/ovnnb_db.sock "$@"; }
sb() { ovn-sbctl --db=unix:$D/ovnsb_db.sock "$@"; }
LS=neutron-$NET
nb ls-add $LS -- set Logical_Switch $LS external_ids:neutron\\:network_name=provider \
  external_ids:neutron\\:mtu=1500 other_config:mcast_snoop=false
nb lsp-add $LS $PORT -- lsp-set-addresses $PORT "$PORT_MAC $PORT_IP" \
  -- lsp-set-port-security $PORT "$PORT_MAC $PORT_IP" \
  -- set Logical_Switch_Port $PORT external_ids:neutron\\:cidrs="$PORT_IP/12" \
     external_ids:neutron\\:device_id=$VM external_ids:neutron\\:device_owner=compute:nova \
     external_ids:neutron\\:network_name=$LS
nb lsp-add $LS $DHCP -- lsp-set-addresses $DHCP "$DHCP_MAC $DHCP_IP" -- lsp-set-type $DHCP localport \
  -- set Logical_Switch_Port $DHCP external_ids:neutron\\:cidrs="$DHCP_IP/12" \
     external_ids:neutron\\:device_id=ovnmeta-$NET external_ids:neutron\\:device_owner=network:distributed
nb lsp-add $LS provnet-${NET:0:8} -- lsp-set-addresses provnet-${NET:0:8} unknown \
  -- lsp-set-type provnet-${NET:0:8} localnet -- lsp-set-options provnet-${NET:0:8} network_name=provider
CH=0d7c6a1e-3f2b-4c5d-9e8f-7a6b5c4d3e2f
sb chassis-add $CH geneve 198.51.100.31 -- set Chassis $CH hostname=compute \
  other_config:ovn-bridge-mappings=provider:br-provider external_ids:ovn-bridge-mappings=provider:br-provider
nb --wait=sb sync 2>/dev/null || sleep 1
waitfor "sb --bare --columns=logical_port find Port_Binding logical_port=$PORT | grep -q $PORT"
sb lsp-bind $PORT $CH

# ------------------------------------------------------------------ record
cap() { local f=$1; shift; "$@" > "$OUT/$f" 2>/dev/null || echo "exit $? from: $*" >> "$OUT/$f"; }
cap ovs-vsctl-show.txt vsctl show
for t in Open_vSwitch Bridge Port Interface Controller Manager; do cap ovs-list-$t.json vsctl --format=json list $t; done
cap ovs-link.json ip -j -d link show
cap ovn-nb-list-Logical_Switch.json nb --format=json list Logical_Switch
cap ovn-nb-list-Logical_Switch_Port.json nb --format=json list Logical_Switch_Port
cap ovn-sb-list-Port_Binding.json sb --format=json list Port_Binding
cap ovn-sb-list-Chassis.json sb --format=json list Chassis
echo "captured $(date -u +%FT%TZ) on $(uname -r), $(ovs-vsctl --version | head -1), $(ovn-nbctl --version | head -1)" \
  > "$OUT/CAPTURED"
