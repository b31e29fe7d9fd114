# shellcheck shell=bash
# Lab component bind: BIND 9 authoritative for $LAB_ZONE on 127.0.0.1:$LAB_DNS_PORT, with
# dynamic updates allowed only when signed by a TSIG key (RFC 2136 + RFC 3007): the shared
# key "ddns-key" may write any name in the zone, each lab service's own key "<d>-key"
# only its own name's A records (update-policy), so that one service's key cannot
# rewrite another's name. TTLs are 2 s so that clients in tests see a switch almost at once.

BIND_DIR=$LAB_DIR/bind
BIND_KEY=$LAB_DIR/secrets/ddns-key.conf

# bind_service_key D: the key file of lab service D.
bind_service_key() { echo "$LAB_DIR/secrets/$1-key.conf"; }

bind_up() {
  lab_apt bind9 bind9-utils bind9-dnsutils
  mkdir -p "$LAB_DIR/secrets"
  chmod 700 "$LAB_DIR/secrets"
  # Keys are made once and kept: a running named and the inventory keep agreeing on them.
  # tsig-keygen writes the BIND key-file format that recover reads; 0600 because recover
  # refuses key files readable by others.
  local d f fresh=""
  for f in "ddns-key:$BIND_KEY" $(for d in $LAB_DOMAINS; do echo "$d-key:$(bind_service_key "$d")"; done); do
    if ! grep -q secret "${f#*:}" 2>/dev/null; then
      (umask 077 && tsig-keygen -a hmac-sha256 "${f%%:*}" >"${f#*:}")
      fresh=1
    fi
  done
  # A named that answers with this very configuration and keys is left alone; one started
  # from an older configuration (e.g. before the per-service keys) is restarted.
  local conf
  conf=$(bind_conf)
  if [ -z "$fresh" ] && lab_pid named >/dev/null && bind_answers &&
    [ "$conf" = "$(cat "$BIND_DIR/named.conf" 2>/dev/null)" ]; then
    return 0
  fi
  lab_stop named
  rm -rf "$BIND_DIR"
  mkdir -p "$BIND_DIR"
  printf '%s\n' "$conf" >"$BIND_DIR/named.conf"
  {
    printf '$TTL 2\n'
    printf '@ IN SOA ns.%s. hostmaster.%s. 1 60 30 600 2\n' "$LAB_ZONE" "$LAB_ZONE"
    printf '@ IN NS ns.%s.\n' "$LAB_ZONE"
    printf 'ns IN A 127.0.0.1\n'
    for d in $LAB_DOMAINS; do printf '%s IN A %s\n' "$d" "$(lab_domain_ip "$d")"; done
  } >"$BIND_DIR/$LAB_ZONE.zone"
  # A journal left from an earlier zone file makes named refuse the zone.
  rm -f "$BIND_DIR/$LAB_ZONE.zone.jnl"
  lab_start named named -g -n 2 -c "$BIND_DIR/named.conf"
  local i
  for i in $(seq 100); do bind_answers && return 0; sleep 0.1; done
  lab_die "named does not answer on 127.0.0.1:$LAB_DNS_PORT: see $LAB_LOG/named.log"
}

# bind_conf: named.conf of the lab. The shared key may write any name of the zone
# (zonesub), each service key only its own name's A records: BIND answers REFUSED to
# anything else signed with it.
bind_conf() {
  local d
  echo "include \"$BIND_KEY\";"
  for d in $LAB_DOMAINS; do echo "include \"$(bind_service_key "$d")\";"; done
  cat <<CONF
options {
  directory "$BIND_DIR";
  pid-file "$BIND_DIR/named.pid";
  listen-on port $LAB_DNS_PORT { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  notify no;
  dnssec-validation no;
};
zone "$LAB_ZONE" {
  type primary;
  file "$BIND_DIR/$LAB_ZONE.zone";
  update-policy {
    grant ddns-key zonesub ANY;
CONF
  for d in $LAB_DOMAINS; do echo "    grant $d-key name $d.$LAB_ZONE. A;"; done
  echo "  };"
  echo "};"
}

# bind_answers: the zone's SOA comes back authoritatively.
bind_answers() {
  dig +short +time=1 +tries=1 -p "$LAB_DNS_PORT" @127.0.0.1 "$LAB_ZONE" SOA 2>/dev/null | grep -q .
}

bind_down() {
  lab_stop named
  rm -rf "$BIND_DIR" "$BIND_KEY"
  local d
  for d in $LAB_DOMAINS; do rm -f "$(bind_service_key "$d")"; done
}

bind_status() {
  lab_proc_status named "127.0.0.1:$LAB_DNS_PORT zone $LAB_ZONE" || return 1
  bind_answers || { lab_status_line named "no-answer" "127.0.0.1:$LAB_DNS_PORT"; return 1; }
}

bind_env() {
  echo "export VCR_LAB_DNS=127.0.0.1:$LAB_DNS_PORT"
  echo "export VCR_LAB_DNS_ZONE=$LAB_ZONE."
  echo "export VCR_LAB_TSIG_KEY_FILE=$BIND_KEY"
  # Each service's own key: VCR_LAB_TSIG_KEY_FILE_WEB1 and so on.
  local d
  for d in $LAB_DOMAINS; do echo "export VCR_LAB_TSIG_KEY_FILE_${d^^}=$(bind_service_key "$d")"; done
}
