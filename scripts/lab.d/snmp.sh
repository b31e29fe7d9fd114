# shellcheck shell=bash
# Lab component snmp: the hypervisor's SNMP side, as libvirt-snmp provides it, for the
# libvirt component's domains (start it after libvirt):
#  - snmpd on 127.0.0.1:$LAB_SNMP_PORT serving libvirtGuestTable (LIBVIRT-MIB) through
#    `vcr-labagent pass` (scripts/labagent), the lab's stand-in for libvirt-snmp, which is
#    not packaged for Debian 12; v2c community in $LAB_DIR/secrets/snmp-community;
#  - `vcr-labagent traps`, sending a libvirtGuestNotif trap for every lifecycle event of a
#    domain to snmptrapd and to $LAB_TRAP_SINK_PORT (where trapd listens in tests);
#  - snmptrapd on 127.0.0.1:$LAB_SNMPTRAPD_PORT, logging every trap to
#    $LAB_SNMP_DIR/snmptrapd.log (numeric OIDs, appended).
# It installs logrotate too: internal/trapd/follow TestLogrotateSnippet rotates a test
# snmptrapd's log with scripts/logrotate/snmptrapd.
# snmpd also sends its own coldStart and nsNotifyShutdown traps to both sinks, as the
# real agent's snmpd does: receivers must ignore them.

LAB_SNMP_DIR=$LAB_DIR/snmp
LAB_SNMP_AGENT_BIN=$LAB_DIR/bin/vcr-labagent
LAB_SNMP_COMMUNITY_FILE=$LAB_DIR/secrets/snmp-community
LAB_SNMPTRAPD_LOG=$LAB_SNMP_DIR/snmptrapd.log
# The number of generated guests the table adds (for benchmarks): written to this file,
# it is read at every table refresh; VCR_LAB_SNMP_SYNTHETIC sets it at `up`.
LAB_SNMP_SYNTHETIC_FILE=$LAB_SNMP_DIR/synthetic-guests
LAB_SNMP_PASS_OID=.1.3.6.1.4.1.36957.1.1

snmp_up() {
  lab_apt snmp snmpd snmptrapd logrotate iproute2
  libvirt_ready || lab_die "component libvirt is not up: the SNMP agent reads it (scripts/lab up libvirt snmp)"
  local d=$LAB_SNMP_DIR changed=false
  mkdir -p "$d/snmpd-persist" "$d/snmptrapd-persist" "$LAB_DIR/bin" "$LAB_DIR/secrets"
  snmp_build && changed=true
  if [ ! -s "$LAB_SNMP_COMMUNITY_FILE" ]; then
    (umask 077 && printf 'vcrlab-%s\n' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" >"$LAB_SNMP_COMMUNITY_FILE")
  fi
  chmod 600 "$LAB_SNMP_COMMUNITY_FILE"
  if [ -n "${VCR_LAB_SNMP_SYNTHETIC:-}" ]; then echo "$VCR_LAB_SNMP_SYNTHETIC" >"$LAB_SNMP_SYNTHETIC_FILE"; fi
  snmp_write_config && changed=true

  # Every daemon is started with fd 9 closed: that is scripts/lab's lock, and a daemon
  # holding it would block the next `scripts/lab up|down` of this component.
  # snmptrapd first, so it logs snmpd's coldStart.
  if $changed || ! lab_pid snmptrapd >/dev/null; then
    lab_stop snmptrapd
    snmp_kill_stale "$LAB_SNMPTRAPD_PORT"
    SNMP_PERSISTENT_DIR=$d/snmptrapd-persist SNMPCONFPATH=$d \
      lab_start snmptrapd snmptrapd -f -C -c "$d/snmptrapd.conf" -X -n -A -m '' -On \
      -Lf "$LAB_SNMPTRAPD_LOG" "udp:127.0.0.1:$LAB_SNMPTRAPD_PORT" 9>&-
    snmp_wait_udp snmptrapd "$LAB_SNMPTRAPD_PORT"
  fi
  if $changed || ! snmp_agent_answers; then
    lab_stop snmpd
    snmp_kill_stale "$LAB_SNMP_PORT"
    SNMP_PERSISTENT_DIR=$d/snmpd-persist SNMPCONFPATH=$d \
      lab_start snmpd snmpd -f -Lo -C -c "$d/snmpd.conf" -I -smux "udp:127.0.0.1:$LAB_SNMP_PORT" 9>&-
    lab_wait snmpd 20 "does not answer on 127.0.0.1:$LAB_SNMP_PORT" snmp_agent_answers
  fi
  if $changed || ! lab_pid labagent-traps >/dev/null; then
    lab_stop labagent-traps
    local log=$LAB_LOG/labagent-traps.log off
    off=$(stat -c %s "$log" 2>/dev/null || echo 0)
    lab_start labagent-traps "$LAB_SNMP_AGENT_BIN" traps -uri "$LAB_LIBVIRT_URI" \
      -community-file "$LAB_SNMP_COMMUNITY_FILE" \
      -sink "127.0.0.1:$LAB_SNMPTRAPD_PORT" -sink "127.0.0.1:$LAB_TRAP_SINK_PORT" 9>&-
    # Ready once it follows libvirt's events: a trap for an earlier event is lost.
    lab_wait labagent-traps 20 "does not follow libvirt events" snmp_log_says "$log" "$off" "following libvirt lifecycle events"
  fi
}

# snmp_build: build vcr-labagent when it is missing or older than its sources; returns 0
# when it was (re)built.
snmp_build() {
  local bin=$LAB_SNMP_AGENT_BIN
  if [ -x "$bin" ] && [ -z "$(cd "$LAB_REPO" && find scripts/labagent internal/libvirtmib go.mod go.sum -newer "$bin" -print -quit)" ]; then
    return 1
  fi
  command -v go >/dev/null || lab_die "go is not installed: it builds scripts/labagent"
  lab_log "building vcr-labagent"
  (cd "$LAB_REPO" && go build -o "$bin.new" ./scripts/labagent) >"$LAB_LOG/labagent-build.log" 2>&1 ||
    { cat "$LAB_LOG/labagent-build.log" >&2; lab_die "go build ./scripts/labagent failed"; }
  mv "$bin.new" "$bin"
  return 0
}

# snmp_write_config: write the daemons' configuration; returns 0 when it changed.
snmp_write_config() {
  local d=$LAB_SNMP_DIR community changed=1
  community=$(cat "$LAB_SNMP_COMMUNITY_FILE")
  # snmpd runs the pass_persist command line itself: a wrapper keeps the URI's `?` and
  # every argument intact. snmpd reads the program's stderr as answers, like its stdout:
  # the agent logs to a file and nothing may write to stderr.
  cat >"$d/labagent-pass.new" <<EOF
#!/bin/sh
exec '$LAB_SNMP_AGENT_BIN' pass -uri '$LAB_LIBVIRT_URI' -synthetic-file '$LAB_SNMP_SYNTHETIC_FILE' \\
  -log '$LAB_LOG/labagent-pass.log' 2>>'$LAB_LOG/labagent-pass.log'
EOF
  chmod 755 "$d/labagent-pass.new"
  (
    umask 077
    cat >"$d/snmpd.conf.new" <<EOF
# Written by scripts/lab.d/snmp.sh. The community is a secret: this file is 0600.
[snmp] mibs :
dontLogTCPWrappersConnects yes
sysLocation vcrcovery lab hypervisor
sysContact root@localhost
rocommunity $community 127.0.0.1
trap2sink 127.0.0.1:$LAB_SNMPTRAPD_PORT $community
trap2sink 127.0.0.1:$LAB_TRAP_SINK_PORT $community
pass_persist $LAB_SNMP_PASS_OID $d/labagent-pass
EOF
    cat >"$d/snmptrapd.conf.new" <<EOF
# Written by scripts/lab.d/snmp.sh.
[snmp] mibs :
disableAuthorization yes
EOF
  )
  local f
  for f in labagent-pass snmpd.conf snmptrapd.conf; do
    if cmp -s "$d/$f.new" "$d/$f"; then rm -f "$d/$f.new"; else mv "$d/$f.new" "$d/$f"; changed=0; fi
  done
  return $changed
}

# snmp_agent_answers: snmpd answers a get of sysUpTime.0 with the lab's community.
snmp_agent_answers() {
  lab_pid snmpd >/dev/null && [ -r "$LAB_SNMP_COMMUNITY_FILE" ] &&
    snmpget -v2c -c "$(cat "$LAB_SNMP_COMMUNITY_FILE")" -t 0.5 -r 0 -m '' -On -Le \
      --noPersistentLoad=yes --noPersistentSave=yes \
      "127.0.0.1:$LAB_SNMP_PORT" .1.3.6.1.2.1.1.3.0 >/dev/null 2>&1
}

# snmp_wait_udp NAME PORT: wait until the process NAME listens on 127.0.0.1:PORT/udp.
snmp_wait_udp() {
  lab_wait "$1" 20 "does not listen on 127.0.0.1:$2/udp" snmp_listens "$2"
}

# snmp_listens PORT: something listens on 127.0.0.1:PORT/udp.
snmp_listens() { ss -Hlun "sport = :$1" | grep -q "127.0.0.1:$1"; }

# snmp_log_says FILE OFFSET TEXT: FILE holds TEXT after its first OFFSET bytes.
snmp_log_says() { tail -c "+$(($2 + 1))" "$1" 2>/dev/null | grep -q "$3"; }

# snmp_kill_stale PORT: stop an snmpd or snmptrapd of an earlier lab (its configuration
# is in this lab folder) that still holds PORT while its PID file is lost. It is found by
# its socket and checked by its command line, never by name alone.
snmp_kill_stale() {
  local pid
  for pid in $(ss -Hlunp "sport = :$1" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    if lab_alive "$pid" "" "-c $LAB_SNMP_DIR/"; then
      lab_log "stopping a stale $(cat "/proc/$pid/comm" 2>/dev/null) (pid $pid) on port $1"
      lab_kill "$pid" TERM "" "-c $LAB_SNMP_DIR/"
    fi
  done
}

snmp_down() {
  local p pid
  # TERM all three at once, then reap each: they stop in parallel.
  for p in labagent-traps snmpd snmptrapd; do
    if pid=$(lab_pid "$p"); then kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; fi
  done
  lab_stop labagent-traps
  lab_stop snmpd
  lab_stop snmptrapd
  return 0
}

snmp_status() {
  local rc=0
  if snmp_agent_answers; then
    lab_status_line snmpd up "127.0.0.1:$LAB_SNMP_PORT"
  else
    lab_status_line snmpd down "127.0.0.1:$LAB_SNMP_PORT"
    rc=1
  fi
  lab_proc_status snmptrapd "127.0.0.1:$LAB_SNMPTRAPD_PORT $LAB_SNMPTRAPD_LOG" || rc=1
  lab_proc_status labagent-traps "-> 127.0.0.1:$LAB_SNMPTRAPD_PORT,127.0.0.1:$LAB_TRAP_SINK_PORT" || rc=1
  return $rc
}

snmp_env() {
  echo "export VCR_LAB_SNMP_AGENT=127.0.0.1:$LAB_SNMP_PORT"
  echo "export VCR_LAB_SNMP_COMMUNITY_FILE=$LAB_SNMP_COMMUNITY_FILE"
  echo "export VCR_LAB_SNMPTRAPD=127.0.0.1:$LAB_SNMPTRAPD_PORT"
  echo "export VCR_LAB_SNMPTRAPD_LOG=$LAB_SNMPTRAPD_LOG"
  echo "export VCR_LAB_TRAP_SINK=127.0.0.1:$LAB_TRAP_SINK_PORT"
  echo "export VCR_LAB_MIBDIR=$LAB_REPO/mibs"
  echo "export VCR_LAB_SNMP_SYNTHETIC_FILE=$LAB_SNMP_SYNTHETIC_FILE"
}
