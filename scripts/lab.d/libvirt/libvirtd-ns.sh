#!/usr/bin/env bash
# libvirtd-ns.sh LABDIR: run libvirtd (foreground) inside the private mount namespace that
# `unshare -m --propagation private` created for it. Started by scripts/lab.d/libvirt.sh.
#  - /sys/fs/cgroup/unified is unmounted here only: this host mounts cgroup v1 plus a
#    cgroup2 `unified` mount with only hugetlb, and libvirt then fails to create its
#    cgroups ("Unable to create directory /sys/fs/cgroup/unified").
#  - libvirt's system folders are bind-mounted from LABDIR, so the daemon, its domains
#    and its sockets leave nothing on the machine; mounts made here never reach the host.
#  - LIBVIRT_DRIVER_DIR holds only the LXC driver: the QEMU driver would refuse to start
#    without the user libvirt-qemu.
set -euo pipefail
d=$1
if awk '$5 == "/sys/fs/cgroup/unified" {f=1} END {exit !f}' /proc/self/mountinfo; then
  umount /sys/fs/cgroup/unified
fi
for m in etc:/etc/libvirt lib:/var/lib/libvirt cache:/var/cache/libvirt log:/var/log/libvirt run:/run/libvirt; do
  mount --bind "$d/${m%%:*}" "${m#*:}"
done
export LIBVIRT_DRIVER_DIR=$d/drivers
exec libvirtd --pid-file /run/libvirt/libvirtd.pid
