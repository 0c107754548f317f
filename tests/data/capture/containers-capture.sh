#!/bin/bash
# Records what `podman ps --format json` lists on nodes laid out as kolla-ansible and TripleO lay them out, and
# the output of pytest_oslab.access.deployment.LISTING there. No registry is reachable: the image is a 3 MB root
# filesystem (sh, sleep, cat, ls, mkdir and their libraries copied from this Debian 12) imported with `podman import`.
# Containers run `sleep` with --network none (no bridge, no firewall rule); every container, the image and the
# volume are removed at the end.
#   bash containers-capture.sh OUTDIR
set -euo pipefail
# This machine: no systemd, cgroups v1 with a v2 'unified' mount holding hugetlb, which crun refuses ("cgroups
# in hybrid mode not supported"); the script runs in a mount namespace of its own without that mount.
if [ -z "${OSLAB_UNSHARED:-}" ] && grep -qs . /sys/fs/cgroup/unified/cgroup.controllers; then
  exec env OSLAB_UNSHARED=1 unshare -m bash -c 'umount /sys/fs/cgroup/unified && exec bash "$0" "$@"' "$0" "$@"
fi
OUT=$(realpath "$1"); mkdir -p "$OUT"
P="podman --cgroup-manager=cgroupfs --events-backend=file"
LIMITS="--cgroups=disabled --ulimit nofile=1024:1024 --ulimit nproc=1000:1000"  # no CAP_SYS_RESOURCE here
IMAGE=localhost/oslab-fixture:1
NET=8cc956e4-a1ff-4298-9560-71420c7e13ca   # a network id of tests/data/captured/lab
ROOT=$(mktemp -d)
cleanup() { $P rm -f -a -t 1 >/dev/null 2>&1 || true; $P volume rm -f neutron_metadata_socket >/dev/null 2>&1 || true
            $P rmi -f $IMAGE >/dev/null 2>&1 || true; rm -rf "$ROOT"; }
trap cleanup EXIT
mkdir -p "$ROOT/bin" "$ROOT/lib/x86_64-linux-gnu" "$ROOT/lib64"
for b in /bin/sleep /bin/sh /bin/cat /bin/ls /bin/mkdir; do
  cp -L "$b" "$ROOT/bin/"
  for lib in $(ldd "$b" | awk '/=>/{print $3} /ld-linux/{print $1}'); do cp -L "$lib" "$ROOT$(dirname "$lib")/"; done
done
tar -C "$ROOT" -cf "$ROOT.tar" . && $P import "$ROOT.tar" $IMAGE >/dev/null && rm -f "$ROOT.tar"
run() { $P run -d --network none $LIMITS "$@" $IMAGE sleep 3600 >/dev/null; }

# kolla-ansible (podman engine), an OVS network node + compute, agents' wrappers on: a dnsmasq sidecar
$P volume create neutron_metadata_socket >/dev/null
for c in neutron_l3_agent neutron_metadata_agent neutron_openvswitch_agent openvswitch_db openvswitch_vswitchd \
         nova_libvirt nova_compute nova_api; do run --name $c; done
run --name neutron_dhcp_agent -v neutron_metadata_socket:/var/lib/neutron/kolla/
run --name "neutron_dhcp_agent_dnsmasq_qdhcp-$NET" -v neutron_metadata_socket:/var/lib/neutron/kolla/
$P create --network none $LIMITS --name neutron_ovn_metadata_agent $IMAGE sleep 1 >/dev/null  # created, never started
$P ps --format json > "$OUT/kolla-ovs-podman-ps.json"
$P ps -a --format json > "$OUT/kolla-ovs-podman-ps-a.json"
$P exec neutron_dhcp_agent sh -c "mkdir -p /var/lib/neutron/kolla/dhcp/$NET && echo tap8cc956e4-a1 > /var/lib/neutron/kolla/dhcp/$NET/interface"
$P exec neutron_dhcp_agent cat "/var/lib/neutron/kolla/dhcp/$NET/interface" > "$OUT/kolla-exec-cat-interface.txt"
$P volume inspect neutron_metadata_socket --format '{{.Mountpoint}}' > "$OUT/kolla-volume-mountpoint.txt"
$P rm -f -a -t 1 >/dev/null

# kolla-ansible, OVN: the databases, northd, controller and the OVN metadata agent
for c in ovn_nb_db ovn_sb_db ovn_northd ovn_controller neutron_ovn_metadata_agent openvswitch_db \
         openvswitch_vswitchd nova_libvirt nova_compute; do run --name $c; done
$P ps --format json > "$OUT/kolla-ovn-podman-ps.json"
$P rm -f -a -t 1 >/dev/null

# kolla-ansible, Linux bridge (Zed still ships it)
for c in neutron_dhcp_agent neutron_l3_agent neutron_metadata_agent neutron_linuxbridge_agent nova_libvirt \
         nova_compute nova_api; do run --name $c; done
$P ps --format json > "$OUT/kolla-lb-podman-ps.json"
bash -c "$(${PYTHON:-python3} -c 'from pytest_oslab.access.deployment import LISTING; print(LISTING)')" > "$OUT/kolla-lb-listing.txt"
$P rm -f -a -t 1 >/dev/null

# TripleO / RHOSO data plane: modular libvirt, OVS on the host, dnsmasq sidecars
for c in neutron_dhcp neutron_ovs_agent neutron_l3_agent neutron_metadata_agent nova_virtqemud nova_virtlogd_wrapper \
         nova_compute ovn_controller ovn_metadata_agent "neutron-dnsmasq-qdhcp-$NET"; do run --name $c; done
$P ps --format json > "$OUT/tripleo-podman-ps.json"
bash -c "$(${PYTHON:-python3} -c 'from pytest_oslab.access.deployment import LISTING; print(LISTING)')" > "$OUT/tripleo-listing.txt"
$P rm -f -a -t 1 >/dev/null

# a node with podman and no container (packages on the host)
$P ps --format json > "$OUT/none-podman-ps.json"
bash -c "$(${PYTHON:-python3} -c 'from pytest_oslab.access.deployment import LISTING; print(LISTING)')" > "$OUT/none-listing.txt"

echo "captured $(date -u +%FT%TZ) on $(uname -r), $(podman --version), image: a 3 MB rootfs from Debian 12 /bin" > "$OUT/CAPTURED"
