#!/bin/bash
# Builds, inside a private network + mount namespace, the devices, namespace, dnsmasq, metadata proxy and
# iptables chains that neutron's Linux bridge agent and DHCP agent make for one vxlan network (seed 001's
# network c08e7dcd, VNI 267, MTU 1450), then records the real command outputs under OUTDIR.
# Nothing outside the private namespaces is touched; every process it starts is ended by pid on exit.
#
#   unshare --net --mount --propagation private bash linuxbridge-replica.sh OUTDIR BUSYBOX
#
# BUSYBOX: a busybox binary (Debian's busybox-static, extracted with dpkg -x) used as the guest's udhcpc and ip.
set -euo pipefail
OUT=$(realpath "$1"); BB=$(realpath "$2")
mount -t tmpfs tmpfs /run && mkdir -p /run/netns          # private: named namespaces and the xtables lock
mount -t tmpfs tmpfs /var/lib && mkdir -p /var/lib/neutron # private: neutron's state directory
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

NET=c08e7dcd-4acb-4cd0-ad08-ebd3b48467ee; SUBNET=e2b6a1d4-5c3f-4e7a-9b8d-0c1f2e3d4a5b; VNI=267
PORT=7a8c0a54-7585-4d0e-9a43-1f2b3c4d5e6f;   PORT_MAC=fa:16:3e:be:71:21;  PORT_IP=192.168.101.88
DHCP=5c2e9f1a-3b7d-4e8a-9c01-2d3e4f5a6b7c;   DHCP_MAC=fa:16:3e:0d:6a:2f;  DHCP_IP=192.168.101.2
GUEST=d3a1e2f4-a1b2-4c3d-8e9f-0a1b2c3d4e5f;  GUEST_MAC=fa:16:3e:3c:5d:7e; GUEST_IP=192.168.101.77
ROUTER=8f0b1c2d-4e5f-4a6b-9c7d-8e9f0a1b2c3d; RPORT=41c7d2e8-96ab-4f3c-8d2e-7b6a5c4d3e2f
RPORT_MAC=fa:16:3e:51:9a:c4; GW=192.168.101.1
BRQ=brq${NET:0:11}; QDHCP=qdhcp-$NET; DIR=/var/lib/neutron/dhcp/$NET; SG=7a3d9999-6c97-42da-a755-f7c6a435049e

ip link set lo up
# underlay: the tunnel interface with the agent's local_ip
ip link add eth1 type veth peer name eth1-peer
ip addr add 198.51.100.31/24 dev eth1
ip link set eth1 up; ip link set eth1-peer up
# brq<net> with vxlan-<vni> (linuxbridge agent: dstport 8472, learning off under l2population)
ip link add "$BRQ" type bridge forward_delay 0 stp_state 0
ip link add vxlan-$VNI type vxlan id $VNI local 198.51.100.31 dev eth1 dstport 8472 ttl 32 nolearning proxy
ip link set vxlan-$VNI mtu 1450 master "$BRQ" up
ip link set "$BRQ" up
# the instance tap as libvirt makes it: a tun/tap with the port MAC's first octet set to fe
ip tuntap add dev tap${PORT:0:11} mode tap
ip link set tap${PORT:0:11} address fe:${PORT_MAC:3} mtu 1450 master "$BRQ" up
# DHCP: tap<port> on the bridge, ns-<port> in qdhcp-<net>
ip netns add $QDHCP
ip link add tap${DHCP:0:11} type veth peer name ns-${DHCP:0:11} netns $QDHCP
ip link set tap${DHCP:0:11} mtu 1450 master "$BRQ" up
ip -n $QDHCP link set lo up
ip -n $QDHCP link set ns-${DHCP:0:11} address $DHCP_MAC mtu 1450 up
ip -n $QDHCP addr add $DHCP_IP/24 dev ns-${DHCP:0:11}
ip -n $QDHCP addr add 169.254.169.254/32 dev ns-${DHCP:0:11}
ip -n $QDHCP route add default via $GW dev ns-${DHCP:0:11}
# a router: qr-<port> in qrouter-<router> holds the gateway
ip netns add qrouter-$ROUTER
ip link add tap${RPORT:0:11} type veth peer name qr-${RPORT:0:11} netns qrouter-$ROUTER
ip link set tap${RPORT:0:11} mtu 1450 master "$BRQ" up
ip -n qrouter-$ROUTER link set lo up
ip -n qrouter-$ROUTER link set qr-${RPORT:0:11} address $RPORT_MAC mtu 1450 up
ip -n qrouter-$ROUTER addr add $GW/24 dev qr-${RPORT:0:11}
# a guest that asks dnsmasq for its lease (a veth stands in for the VM's NIC)
ip netns add guest
ip link add tap${GUEST:0:11} type veth peer name eth0 netns guest
ip link set tap${GUEST:0:11} address fe:${GUEST_MAC:3} mtu 1450 master "$BRQ" up
ip -n guest link set lo up
ip -n guest link set eth0 address $GUEST_MAC up

# dnsmasq files in neutron's format, and dnsmasq with the DHCP agent's command line
mkdir -p $DIR
cat > $DIR/host <<EOF
$DHCP_MAC,host-${DHCP_IP//./-}.openstacklocal,$DHCP_IP
$RPORT_MAC,host-${GW//./-}.openstacklocal,$GW
$GUEST_MAC,host-${GUEST_IP//./-}.openstacklocal,$GUEST_IP
$PORT_MAC,host-${PORT_IP//./-}.openstacklocal,$PORT_IP
EOF
printf '%s\thost-%s.openstacklocal host-%s\n' $DHCP_IP ${DHCP_IP//./-} ${DHCP_IP//./-} $GW ${GW//./-} ${GW//./-} \
  $GUEST_IP ${GUEST_IP//./-} ${GUEST_IP//./-} $PORT_IP ${PORT_IP//./-} ${PORT_IP//./-} > $DIR/addn_hosts
cat > $DIR/opts <<EOF
tag:subnet-$SUBNET,option:dns-server,$DHCP_IP
tag:subnet-$SUBNET,option:classless-static-route,169.254.169.254/32,$DHCP_IP,0.0.0.0/0,$GW
tag:subnet-$SUBNET,249,169.254.169.254/32,$DHCP_IP,0.0.0.0/0,$GW
tag:subnet-$SUBNET,option:router,$GW
EOF
echo ns-${DHCP:0:11} > $DIR/interface
ip netns exec $QDHCP dnsmasq --no-hosts --no-resolv --pid-file=$DIR/pid --dhcp-hostsfile=$DIR/host \
  --addn-hosts=$DIR/addn_hosts --dhcp-optsfile=$DIR/opts --dhcp-leasefile=$DIR/leases --dhcp-match=set:ipxe,175 \
  --dhcp-userclass=set:ipxe6,iPXE --local-service --bind-dynamic \
  --dhcp-range=set:subnet-$SUBNET,192.168.101.0,static,255.255.255.0,86400s --dhcp-option-force=option:mtu,1450 \
  --dhcp-lease-max=256 --conf-file=/dev/null --domain=openstacklocal
sleep 0.5; PIDS+=("$(cat $DIR/pid)")
# metadata proxy: haproxy on 169.254.169.254:80 as the DHCP agent configures it
mkdir -p /var/lib/neutron/ns-metadata-proxy
cat > /var/lib/neutron/ns-metadata-proxy/$NET.conf <<EOF
global
    maxconn     1024
    pidfile     /var/lib/neutron/external/pids/$NET.pid.haproxy
    daemon

defaults
    mode                    http
    timeout connect         30s
    timeout client          32s
    timeout server          32s
    timeout http-keep-alive 30s

listen listener
    bind 169.254.169.254:80
    server metadata /var/lib/neutron/metadata_proxy
    http-request add-header X-Neutron-Network-ID $NET
EOF
mkdir -p /var/lib/neutron/external/pids
ip netns exec $QDHCP haproxy -f /var/lib/neutron/ns-metadata-proxy/$NET.conf
sleep 0.3; PIDS+=("$(cat /var/lib/neutron/external/pids/$NET.pid.haproxy)")

# the guest: busybox udhcpc (as a cirros-like image does), then busybox ip
cat > /run/udhcpc.script <<EOF
#!/bin/sh
[ "\$1" = bound ] || exit 0
$BB ip addr add \$ip/\$mask dev \$interface
[ -n "\$mtu" ] && $BB ip link set dev \$interface mtu \$mtu
for r in \$router; do $BB ip route add default via \$r dev \$interface; done
exit 0
EOF
chmod +x /run/udhcpc.script
ip netns exec guest "$BB" udhcpc -i eth0 -n -q -t 5 -O mtu -s /run/udhcpc.script > "$OUT/guest-udhcpc.txt" 2>&1

# security group chains of the instance port (seed 001's rules) and of the guest (default group)
ipset create NIPv4${SG:0:26} hash:net family inet
ipset add NIPv4${SG:0:26} $PORT_IP; ipset add NIPv4${SG:0:26} $GUEST_IP
P=${PORT:0:10}; PT=tap${PORT:0:11}; G=${GUEST:0:10}; GT=tap${GUEST:0:11}
KNOWN='"Direct packets associated with a known session to the RETURN chain."'
INVALID='"Drop packets that appear related to an existing connection (e.g. TCP ACK/FIN) but do not have an entry in conntrack."'
FALLBACK='"Send unmatched traffic to the fallback chain."'
chains() { # port10 tap mac ip ingress-rules...
  local p=$1 t=$2 mac=$3 ip=$4; shift 4
  cat <<EOF
-A neutron-linuxbri-FORWARD -m physdev --physdev-out $t --physdev-is-bridged -m comment --comment "Direct traffic from the VM interface to the security group chain." -j neutron-linuxbri-sg-chain
-A neutron-linuxbri-FORWARD -m physdev --physdev-in $t --physdev-is-bridged -m comment --comment "Direct traffic from the VM interface to the security group chain." -j neutron-linuxbri-sg-chain
-A neutron-linuxbri-INPUT -m physdev --physdev-in $t --physdev-is-bridged -m comment --comment "Direct incoming traffic from VM to the security group chain." -j neutron-linuxbri-o$p
-A neutron-linuxbri-i$p -m state --state RELATED,ESTABLISHED -m comment --comment $KNOWN -j RETURN
-A neutron-linuxbri-i$p -d $ip/32 -p udp -m udp --sport 67 --dport 68 -j RETURN
-A neutron-linuxbri-i$p -d 255.255.255.255/32 -p udp -m udp --sport 67 --dport 68 -j RETURN
EOF
  for r in "$@"; do echo "-A neutron-linuxbri-i$p $r -j RETURN"; done
  cat <<EOF
-A neutron-linuxbri-i$p -m state --state INVALID -m comment --comment $INVALID -j DROP
-A neutron-linuxbri-i$p -m comment --comment $FALLBACK -j neutron-linuxbri-sg-fallback
-A neutron-linuxbri-o$p -s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -m comment --comment "Allow DHCP client traffic." -j RETURN
-A neutron-linuxbri-o$p -j neutron-linuxbri-s$p
-A neutron-linuxbri-o$p -p udp -m udp --sport 68 --dport 67 -m comment --comment "Allow DHCP client traffic." -j RETURN
-A neutron-linuxbri-o$p -p udp -m udp --sport 67 --dport 68 -m comment --comment "Prevent DHCP Spoofing by VM." -j DROP
-A neutron-linuxbri-o$p -m state --state RELATED,ESTABLISHED -m comment --comment $KNOWN -j RETURN
-A neutron-linuxbri-o$p -j RETURN
-A neutron-linuxbri-o$p -m state --state INVALID -m comment --comment $INVALID -j DROP
-A neutron-linuxbri-o$p -m comment --comment $FALLBACK -j neutron-linuxbri-sg-fallback
-A neutron-linuxbri-s$p -s $ip/32 -m mac --mac-source $mac -m comment --comment "Allow traffic from defined IP/MAC pairs." -j RETURN
-A neutron-linuxbri-s$p -m comment --comment "Drop traffic without an IP/MAC allow rule." -j DROP
-A neutron-linuxbri-sg-chain -m physdev --physdev-out $t --physdev-is-bridged -m comment --comment "Jump to the VM specific chain." -j neutron-linuxbri-i$p
-A neutron-linuxbri-sg-chain -m physdev --physdev-in $t --physdev-is-bridged -m comment --comment "Jump to the VM specific chain." -j neutron-linuxbri-o$p
EOF
}
{
cat <<EOF
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:neutron-linuxbri-OUTPUT - [0:0]
:neutron-linuxbri-PREROUTING - [0:0]
-A PREROUTING -j neutron-linuxbri-PREROUTING
-A OUTPUT -j neutron-linuxbri-OUTPUT
-A neutron-linuxbri-PREROUTING -m physdev --physdev-in $BRQ -m comment --comment "Set zone for ${PORT:0:11}" -j CT --zone 4097
-A neutron-linuxbri-PREROUTING -i $BRQ -m comment --comment "Set zone for ${PORT:0:11}" -j CT --zone 4097
-A neutron-linuxbri-PREROUTING -m physdev --physdev-in $PT -m comment --comment "Set zone for ${PORT:0:11}" -j CT --zone 4097
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:neutron-filter-top - [0:0]
:neutron-linuxbri-FORWARD - [0:0]
:neutron-linuxbri-INPUT - [0:0]
:neutron-linuxbri-OUTPUT - [0:0]
:neutron-linuxbri-i$P - [0:0]
:neutron-linuxbri-i$G - [0:0]
:neutron-linuxbri-local - [0:0]
:neutron-linuxbri-o$P - [0:0]
:neutron-linuxbri-o$G - [0:0]
:neutron-linuxbri-s$P - [0:0]
:neutron-linuxbri-s$G - [0:0]
:neutron-linuxbri-sg-chain - [0:0]
:neutron-linuxbri-sg-fallback - [0:0]
-A INPUT -j neutron-linuxbri-INPUT
-A FORWARD -j neutron-filter-top
-A FORWARD -j neutron-linuxbri-FORWARD
-A OUTPUT -j neutron-filter-top
-A OUTPUT -j neutron-linuxbri-OUTPUT
-A neutron-filter-top -j neutron-linuxbri-local
EOF
chains $P $PT $PORT_MAC $PORT_IP "-p icmp" "-p tcp -m tcp --dport 22"
chains $G $GT $GUEST_MAC $GUEST_IP "-m set --match-set NIPv4${SG:0:26} src" "-p icmp"
echo "-A neutron-linuxbri-sg-chain -j ACCEPT"
echo "-A neutron-linuxbri-sg-fallback -m comment --comment \"Default drop rule for unmatched traffic.\" -j DROP"
echo COMMIT
} | iptables-legacy-restore

# let the DHCP namespace learn its neighbours
ip netns exec $QDHCP ping -c1 -W1 $GW >/dev/null || true
ip netns exec $QDHCP ping -c1 -W1 $GUEST_IP >/dev/null || true

# ------------------------------------------------------------------ record
cap() { local f=$1; shift; "$@" > "$OUT/$f" 2>/dev/null || echo "exit $? from: $*" >> "$OUT/$f"; }
cap lb-link.json ip -j -d link show
cap lb-addr.json ip -j addr show
cap lb-route.json ip -j route show
cap lb-link.txt ip -d link show
cap lb-bridge-link.json bridge -j link show
cap lb-brctl-show.txt brctl show
cap lb-iptables-save.txt iptables-legacy-save
cap lb-iptables-S.txt iptables-legacy -S
cap lb-iptables-L.txt iptables-legacy -L
cap lb-ipset-list.txt ipset list
cap lb-netns.txt ip netns
cap lb-ss.txt ss -Htulpn
cap qdhcp-link.json ip netns exec $QDHCP ip -j -d link show
cap qdhcp-addr.json ip netns exec $QDHCP ip -j -d addr show
cap qdhcp-route.json ip netns exec $QDHCP ip -j route show
cap qdhcp-neigh.json ip netns exec $QDHCP ip -j neigh show
cap qdhcp-addr.txt ip netns exec $QDHCP ip addr show
cap qdhcp-route.txt ip netns exec $QDHCP ip route
cap qdhcp-ss.txt ip netns exec $QDHCP ss -Htulpn
cap qdhcp-ss-ano4.txt ip netns exec $QDHCP ss -ano -4
cap qdhcp-arping.txt ip netns exec $QDHCP arping -c3 -I ns-${DHCP:0:11} $GUEST_IP
cap guest-ip-addr.txt ip netns exec guest "$BB" ip addr
cap guest-ip-route.txt ip netns exec guest "$BB" ip route
for f in host addn_hosts opts leases interface; do cp $DIR/$f "$OUT/dhcp-$f"; done
cp /proc/${PIDS[0]}/cmdline "$OUT/dnsmasq-cmdline.bin"
cap ps-eo-pid-args.txt ps -o pid,args -p "$(IFS=,; echo "${PIDS[*]}")"
echo "captured $(date -u +%FT%TZ) on $(uname -r), $(ip -V)" > "$OUT/CAPTURED"
