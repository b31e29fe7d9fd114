#!/usr/bin/env bash
# The recovery script an operator would otherwise write (the seed paper's approach), as
# the peer of vcr-recover in scripts/benchmarks/recover: fence with snmpget, start the
# container, find its address, probe its port with curl, switch DNS with nsupdate
# (same TSIG compare-and-set prerequisite), confirm with dig.
# Usage: recover-peer.sh SERVICE CONTAINER PRIMARY_IP UUID_INDEX   (lab env exported)
set -euo pipefail
svc=$1 ct=$2 primary=$3 index=$4
name=$svc.${VCR_LAB_DNS_ZONE}
export LXD_DIR=$VCR_LAB_LXD_STANDBY_DIR LXD_CONF=$VCR_LAB_LXD_CONF
state=$(snmpget -v2c -c "$(cat "$VCR_LAB_SNMP_COMMUNITY_FILE")" -On -Oqv -m '' "$VCR_LAB_SNMP_AGENT" ".1.3.6.1.4.1.36957.1.1.1.3$index")
case $state in 5|6) ;; *) echo "primary not down (state $state)" >&2; exit 3;; esac
if ! curl -s -m 0.05 -o /dev/null "http://$primary:8080/"; then :; else echo "primary serves" >&2; exit 3; fi
if ! lxc info "$ct" >/dev/null 2>&1; then lxc launch "$VCR_LAB_LXD_IMAGE" "$ct" >/dev/null; fi
lxc start "$ct" 2>/dev/null || true
ip=""
until [ -n "$ip" ]; do ip=$(lxc list "$ct" -c 4 --format csv | awk '{print $1}'); [ -n "$ip" ] || sleep 0.05; done
until curl -s -m 1 -o /dev/null "http://$ip:8080/"; do sleep 0.05; done
nsupdate -k "$VCR_LAB_TSIG_KEY_FILE" <<NSU
server ${VCR_LAB_DNS%:*} ${VCR_LAB_DNS#*:}
zone $VCR_LAB_DNS_ZONE
prereq yxrrset $name A $primary
update delete $name A $primary
update add $name 2 A $ip
send
NSU
[ "$(dig +short -p "${VCR_LAB_DNS#*:}" "@${VCR_LAB_DNS%:*}" "$name" A)" = "$ip" ]
