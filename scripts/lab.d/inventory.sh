# shellcheck shell=bash
# Writes $LAB_REPO/.lab/vcrcovery.yaml: an inventory of the running lab that every binary
# accepts with -check. web1 is a warm standby, web2 a cold one started from the image.

inventory_write() {
  local c
  # The components' env output is the single source of every endpoint and file name.
  for c in $LAB_ALL; do eval "$("${c}_env")"; done
  mkdir -p "$LAB_REPO/.lab" "$LAB_DIR/state"
  local out=$LAB_REPO/.lab/vcrcovery.yaml d upper
  {
    cat <<YAML
# Written by scripts/lab: the inventory of the running lab. Do not edit; rerun
# \`scripts/lab env\` to rewrite it.
state_dir: $LAB_DIR/state
zabbix:
  server: ${VCR_LAB_ZABBIX_TRAPPER:-127.0.0.1:$LAB_ZBX_SERVER_PORT}
  api_url: ${VCR_LAB_ZABBIX_API:-http://127.0.0.1:$LAB_ZBX_WEB_PORT/api_jsonrpc.php}
  # A user login, not the API token: Zabbix 6.0's script.execute (trapd's fast path)
  # fails with HTTP 500 when called with an API token.
  username: ${VCR_LAB_ZABBIX_USER:-Admin}
  password_file: ${VCR_LAB_ZABBIX_PASSWORD_FILE:-$LAB_DIR/secrets/zabbix-password}
  timeout: 5s
snmp:
  trap_listen: ["${VCR_LAB_TRAP_SINK:-127.0.0.1:$LAB_TRAP_SINK_PORT}"]
  communities_file: ${VCR_LAB_SNMP_COMMUNITY_FILE:-$LAB_DIR/secrets/snmp-community}
  snmptrapd_log: ${VCR_LAB_SNMPTRAPD_LOG:-$LAB_DIR/snmp/snmptrapd.log}
dns:
  server: ${VCR_LAB_DNS:-127.0.0.1:$LAB_DNS_PORT}
  zone: ${VCR_LAB_DNS_ZONE:-$LAB_ZONE.}
  tsig_key_file: ${VCR_LAB_TSIG_KEY_FILE:-$LAB_DIR/secrets/ddns-key.conf}
  ttl: 2
hypervisors:
  - name: lab-kvm
    zabbix_host: lab-kvm
    address: ${VCR_LAB_SNMP_AGENT:-127.0.0.1:$LAB_SNMP_PORT}
    version: "2c"
    community_file: ${VCR_LAB_SNMP_COMMUNITY_FILE:-$LAB_DIR/secrets/snmp-community}
    timeout: 2s
    retries: 1
standbys:
  - name: standby
    url: unix://${VCR_LAB_LXD_STANDBY_SOCKET:-$LAB_DIR/lxd-standby/unix.socket}
    zabbix_host: ${VCR_LAB_ZABBIX_AGENT_HOST:-standby}
    zabbix_agent: ${VCR_LAB_ZABBIX_AGENT:-127.0.0.1:$LAB_ZBX_AGENT_PORT}
    capacity: 4
    weight: 1
  - name: big
    url: ${VCR_LAB_LXD_BIG_URL:-https://$LAB_LXD_BIG_ADDR}
    zabbix_host: big
    # The lab has one agent; it stands in for the big VM's too.
    zabbix_agent: ${VCR_LAB_ZABBIX_AGENT:-127.0.0.1:$LAB_ZBX_AGENT_PORT}
    capacity: 16
    client_cert_file: ${VCR_LAB_LXD_CLIENT_CERT:-$LAB_DIR/lxd-conf/client.crt}
    client_key_file: ${VCR_LAB_LXD_CLIENT_KEY:-$LAB_DIR/lxd-conf/client.key}
    server_cert_file: ${VCR_LAB_LXD_BIG_SERVER_CERT:-$LAB_DIR/lxd-big/server.crt}
    weight: 1
  # The third pool host (issue 11): standby, big and spare are the cooperative pool.
  - name: spare
    url: ${VCR_LAB_LXD_SPARE_URL:-https://$LAB_LXD_SPARE_ADDR}
    zabbix_host: spare
    zabbix_agent: ${VCR_LAB_ZABBIX_AGENT:-127.0.0.1:$LAB_ZBX_AGENT_PORT}
    capacity: 16
    client_cert_file: ${VCR_LAB_LXD_CLIENT_CERT:-$LAB_DIR/lxd-conf/client.crt}
    client_key_file: ${VCR_LAB_LXD_CLIENT_KEY:-$LAB_DIR/lxd-conf/client.key}
    server_cert_file: ${VCR_LAB_LXD_SPARE_SERVER_CERT:-$LAB_DIR/lxd-conf/servercerts/spare.crt}
    weight: 1
pool:
  name: lab
  etcd:
    endpoints: [$(_inventory_etcd_list)]
  lease_ttl: 2s
  snapshot_period: 30s
  keep: 3
services:
YAML
    for d in $LAB_DOMAINS; do
      cat <<YAML
  - name: $d
    hypervisor: lab-kvm
    zabbix_host: $d
    vm_uuid: $(lab_domain_uuid "$d")
    dns_name: $d.$LAB_ZONE.
    primary_address: $(lab_domain_ip "$d")
    probe:
      ports: [$LAB_SERVICE_PORT]
      timeout: 10s
YAML
      if [[ " $LAB_KEYED_SERVICES " == *" $d "* ]]; then
        upper=VCR_LAB_TSIG_KEY_FILE_${d^^}
        printf '    tsig_key_file: %s\n' "${!upper:-$(bind_service_key "$d")}"
      fi
      if [[ " $LAB_WARM_SERVICES " == *" $d "* ]]; then
        printf '    standby: {host: standby, mode: warm, container: %s}\n    fast_path: true\n' "$d"
      else
        printf '    standby:\n      host: standby\n      mode: cold\n      container: %s\n      backup: {kind: image, source: %s}\n' \
          "$d" "${VCR_LAB_LXD_IMAGE:-busybox}"
      fi
    done
  } >"$out.tmp"
  mv "$out.tmp" "$out"
}

# _inventory_etcd_list: the lab's etcd client URLs as a YAML flow list's items.
_inventory_etcd_list() {
  local e out=""
  for e in ${VCR_LAB_ETCD//,/ }; do out+="${out:+, }\"$e\""; done
  [ -n "$out" ] || for e in $(etcd_endpoints | tr , ' '); do out+="${out:+, }\"$e\""; done
  echo "$out"
}
