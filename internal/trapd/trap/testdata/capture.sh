#!/bin/bash
# Regenerates the snmptrapd-*.log golden inputs of log_test.go with the real snmptrapd
# (net-snmp 5.9.3, Debian 12): one log per output form, each holding the same traps.
# Usage: internal/trapd/trap/testdata/capture.sh [PORT]   (needs snmptrapd and snmptrap)
set -euo pipefail
cd "$(dirname "$0")"
port=${1:-29999}
mibs=$(cd ../../../mibs && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '[snmp] mibs :\ndisableAuthorization yes\n' >"$tmp/snmptrapd.conf"

st() { snmptrap --noPersistentLoad=yes --noPersistentSave=yes -m '' -r 0 "$@"; }
g() { # g TARGET NAME-ARGS... : a libvirtGuestNotif with the given varbinds
  local target=$1; shift
  st -v 2c -c public "$target" '' .1.3.6.1.4.1.36957.0.1 "$@"
}
send() {
  local t=udp:127.0.0.1:$port
  g $t .1.3.6.1.4.1.36957.1.1.1.2.0 s web2 .1.3.6.1.4.1.36957.1.1.1.1.0 x 6f1c8a523e0b4d5e9a770c1d2e3f4a02 .1.3.6.1.4.1.36957.1.1.1.3.0 i 5 .1.3.6.1.4.1.36957.1.1.1.9.0 i 2
  g $t .1.3.6.1.4.1.36957.1.1.1.2.0 s 'we"b 2' .1.3.6.1.4.1.36957.1.1.1.1.0 x 41424344454647484950515253545556 .1.3.6.1.4.1.36957.1.1.1.3.0 i 6 .1.3.6.1.4.1.36957.1.1.1.9.0 i 2
  g $t .1.3.6.1.4.1.36957.1.1.1.2.0 s zeros .1.3.6.1.4.1.36957.1.1.1.1.0 x 000c8a52000b0d5e0a7700000e3f4a02 .1.3.6.1.4.1.36957.1.1.1.3.0 i 1 .1.3.6.1.4.1.36957.1.1.1.9.0 i 1
  g $t .1.3.6.1.4.1.36957.1.1.1.2.0 s ws .1.3.6.1.4.1.36957.1.1.1.1.0 x 41220a5c0942434445464748494a4b4c .1.3.6.1.4.1.36957.1.1.1.3.0 i 0 .1.3.6.1.4.1.36957.1.1.1.9.0 i 1
  g $t .1.3.6.1.4.1.36957.1.1.1.2.0 s pm .1.3.6.1.4.1.36957.1.1.1.1.0 x 6f1c8a523e0b4d5e9a770c1d2e3f4a07 .1.3.6.1.4.1.36957.1.1.1.3.0 i 7 .1.3.6.1.4.1.36957.1.1.1.9.0 i 1
  st -v 2c -c public $t '' .1.3.6.1.6.3.1.1.5.1 .1.3.6.1.6.3.1.1.4.3.0 o .1.3.6.1.4.1.8072.3.2.10
  st -v 1 -c public $t .1.3.6.1.4.1.36957 127.0.0.9 6 1 '' .1.3.6.1.4.1.36957.1.1.1.2.0 s web2 .1.3.6.1.4.1.36957.1.1.1.1.0 x 6f1c8a523e0b4d5e9a770c1d2e3f4a02 .1.3.6.1.4.1.36957.1.1.1.3.0 i 1 .1.3.6.1.4.1.36957.1.1.1.9.0 i 1
  st -v 1 -c public $t .1.3.6.1.4.1.8072 127.0.0.9 0 0 ''
  st -v 2c -c public $t '' .1.3.6.1.4.1.99.0.7 .1.3.6.1.4.1.99.1 x 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0123456789 .1.3.6.1.4.1.99.2 C 12345678901 .1.3.6.1.4.1.99.3 a 10.1.2.3 .1.3.6.1.4.1.99.4 x 00112233445566778899aabbccddeeff
  g $t .1.3.6.1.4.1.36957.1.1.1.2.0 s norowstatus .1.3.6.1.4.1.36957.1.1.1.1.0 x 6f1c8a523e0b4d5e9a770c1d2e3f4a02 .1.3.6.1.4.1.36957.1.1.1.3.0 i 5
  g $t .1.3.6.1.4.1.36957.1.1.1.2.0 s badstate .1.3.6.1.4.1.36957.1.1.1.1.0 x 6f1c8a523e0b4d5e9a770c1d2e3f4a02 .1.3.6.1.4.1.36957.1.1.1.3.0 s 5 .1.3.6.1.4.1.36957.1.1.1.9.0 i 2
  g udp6:[::1]:$port .1.3.6.1.4.1.36957.1.1.1.2.0 s web1 .1.3.6.1.4.1.36957.1.1.1.1.0 x 6f1c8a523e0b4d5e9a770c1d2e3f4a01 .1.3.6.1.4.1.36957.1.1.1.3.0 i 5 .1.3.6.1.4.1.36957.1.1.1.9.0 i 2
}

capture() { # capture NAME SNMPTRAPD-ARGS...
  local name=$1; shift
  SNMP_PERSISTENT_DIR=$tmp/persist SNMPCONFPATH=$tmp snmptrapd -f -C -c "$tmp/snmptrapd.conf" -n \
    -Lf "$tmp/$name.log" "$@" "udp:127.0.0.1:$port" "udp6:[::1]:$port" &
  local pid=$!
  sleep 0.5
  send
  sleep 0.5
  kill "$pid"
  wait "$pid" || true
  grep -v '^Created directory' "$tmp/$name.log" >"snmptrapd-$name.log"
}

capture numeric -m '' -On
capture mib -M "$mibs:/usr/share/snmp/mibs" -m ALL
capture mib-numeric -M "$mibs:/usr/share/snmp/mibs" -m ALL -On
capture numeric-hex -m '' -On -Ox
capture oneline -m '' -On -F 'VCRTRAP %t %w %q %N %b\t%v\n'
capture oneline-mib -M "$mibs:/usr/share/snmp/mibs" -m ALL -F 'VCRTRAP %t %w %q %N %b\t%v\n'
