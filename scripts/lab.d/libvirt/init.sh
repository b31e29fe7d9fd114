#!/bin/sh
# PID 1 of a lab domain (a busybox container). The service runs as a child and this shell
# ends on SIGTERM: PID 1 of a PID namespace only gets the signals it handles, and a
# service that ignores SIGTERM as PID 1 makes `virsh destroy` wait 1.8 s for SIGKILL
# (0.2 s this way). `virsh shutdown` writes a request into the initctl FIFO (without one
# it does nothing): any write to it ends the domain like SIGTERM does.
PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH
child=
trap 'kill "$child" 2>/dev/null; exit 0' TERM INT
rm -f /run/initctl
if mkfifo -m 600 /run/initctl; then
  (cat /run/initctl >/dev/null; kill -TERM $$) &
fi
# A light steady load, so the domain's CpuTime grows like a VM's (a guest at exactly 0 %
# CPU looks hung to the monitoring). While /lab/burn exists (the host creates it in the
# domain's root folder) the domain keeps one vCPU busy, for "CPU saturated" tests.
(
  while :; do
    if [ -e /lab/burn ]; then timeout 1 sh -c 'while :; do :; done'; else /bin/sh -c 'sleep 1'; fi
  done
) &
httpd -f -p @PORT@ -h /www &
child=$!
wait "$child"
