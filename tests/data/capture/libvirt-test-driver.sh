#!/bin/bash
# Records virsh outputs from libvirt's built-in test driver (test:///default, no daemon needed): the driver's own
# "test" domain, and a domain created from nova-like.xml (the <interface> of seed 001 plus nova's metadata),
# which libvirt reads and prints back in its own form.
#   bash libvirt-test-driver.sh OUTDIR
set -euo pipefail
OUT=$(realpath "$1"); HERE=$(dirname "$(realpath "$0")")
cd "$HERE"
virsh -c test:///default dumpxml test > "$OUT/virsh-dumpxml-test.xml"
virsh -c test:///default "create nova-like.xml; dumpxml instance-0000000d" | sed '1,2d' > "$OUT/virsh-dumpxml-nova-like.xml"
virsh -c test:///default "create nova-like.xml; list --all" | sed '1,2d' > "$OUT/virsh-list.txt"
virsh -c test:///default "create nova-like.xml; domiflist instance-0000000d" | sed '1,2d' > "$OUT/virsh-domiflist.txt"
echo "captured $(date -u +%FT%TZ), $(virsh --version) (libvirt test driver)" > "$OUT/CAPTURED"
