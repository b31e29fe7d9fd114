# shellcheck shell=bash
# Lab component bind: BIND 9 authoritative for $LAB_ZONE on 127.0.0.1:$LAB_DNS_PORT, with
# dynamic updates allowed only when signed by the TSIG key "ddns-key" (RFC 2136 + RFC 3007).
# TTLs are 2 s so that clients in tests see a switch almost at once.

BIND_DIR=$LAB_DIR/bind
BIND_KEY=$LAB_DIR/secrets/ddns-key.conf

bind_up() {
  lab_apt bind9 bind9-utils bind9-dnsutils
  if lab_pid named >/dev/null && bind_answers; then return 0; fi
  lab_stop named
  rm -rf "$BIND_DIR"
  mkdir -p "$BIND_DIR" "$LAB_DIR/secrets"
  chmod 700 "$LAB_DIR/secrets"
  # tsig-keygen writes the BIND key-file format that recover reads; 0600 because recover
  # refuses key files readable by others.
  (umask 077 && tsig-keygen -a hmac-sha256 ddns-key >"$BIND_KEY")
  cat >"$BIND_DIR/named.conf" <<CONF
include "$BIND_KEY";
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
  allow-update { key "ddns-key"; };
};
CONF
  local d
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

# bind_answers: the zone's SOA comes back authoritatively.
bind_answers() {
  dig +short +time=1 +tries=1 -p "$LAB_DNS_PORT" @127.0.0.1 "$LAB_ZONE" SOA 2>/dev/null | grep -q .
}

bind_down() {
  lab_stop named
  rm -rf "$BIND_DIR" "$BIND_KEY"
}

bind_status() {
  lab_proc_status named "127.0.0.1:$LAB_DNS_PORT zone $LAB_ZONE" || return 1
  bind_answers || { lab_status_line named "no-answer" "127.0.0.1:$LAB_DNS_PORT"; return 1; }
}

bind_env() {
  echo "export VCR_LAB_DNS=127.0.0.1:$LAB_DNS_PORT"
  echo "export VCR_LAB_DNS_ZONE=$LAB_ZONE."
  echo "export VCR_LAB_TSIG_KEY_FILE=$BIND_KEY"
}
