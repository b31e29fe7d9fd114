# shellcheck shell=bash
# Shared settings and helpers of scripts/lab. Sourced, never run.
#
# Every lab component lives in scripts/lab.d/<name>.sh and defines four functions:
#   <name>_up      start it (idempotent: a no-op when it already answers)
#   <name>_down    stop what <name>_up started (by PID) and remove its kernel objects
#   <name>_status  one line per process: "name  state  address"; returns 1 when not healthy
#   <name>_env     print its endpoints as `export VCR_LAB_...=...` lines
# Ports are fixed and away from every default port so the lab never collides with a
# system's own services; all daemons listen on loopback or on the lab's own bridges.

LAB_DIR=${VCR_LAB_DIR:-/var/lib/vcrcovery-lab}     # runtime state (wiped by `down`)
LAB_CACHE=${VCR_LAB_CACHE:-/var/cache/vcrcovery-lab} # caches that make a second `up` fast
LAB_LOG=$LAB_DIR/log
LAB_RUN=$LAB_DIR/run

# Ports (loopback unless said otherwise).
LAB_PG_PORT=20432
LAB_ZBX_SERVER_PORT=20051     # Zabbix trapper
LAB_ZBX_AGENT_PORT=20050
LAB_ZBX_WEB_PORT=20080        # PHP frontend, API at /api_jsonrpc.php
LAB_DNS_PORT=20053            # BIND, UDP and TCP
LAB_SNMP_PORT=20161           # snmpd serving LIBVIRT-MIB
LAB_SNMPTRAPD_PORT=20162      # snmptrapd, logs to a file
LAB_TRAP_SINK_PORT=20163      # second trap sink of the lab agent: where trapd listens in tests
LAB_LXD_BIG_ADDR=127.0.0.2:20443
LAB_LXD_STANDBY_ADDR=127.0.0.3:20443  # the standby daemon listens too: the source of copies
LAB_LXD_SPARE_ADDR=127.0.0.4:20443    # the third pool host of the cooperative pool

# Names.
LAB_ZONE=lab.vcrcovery.test
LAB_PRIMARY_BRIDGE=vcrpri0    # libvirt LXC domains ("primary VMs"): 10.77.1.0/24
LAB_PRIMARY_NET=10.77.1
LAB_STANDBY_BRIDGE=vcrsb0     # LXD "standby" daemon: 10.77.2.0/24
LAB_STANDBY_NET=10.77.2
LAB_BIG_BRIDGE=vcrbig0        # LXD "big" daemon: 10.77.3.0/24
LAB_BIG_NET=10.77.3
LAB_SPARE_BRIDGE=vcrsp0       # LXD "spare" daemon: 10.77.4.0/24
LAB_SPARE_NET=10.77.4
# Primary domains: name, IP (on LAB_PRIMARY_BRIDGE), fixed UUID, MAC. Service port 8080.
LAB_DOMAINS="web1 web2"
LAB_SERVICE_PORT=8080
# Services whose standby is warm (a running container on the standby daemon); the others
# are cold (created from the busybox image by recover).
LAB_WARM_SERVICES="web1"
# Services whose inventory entry names their own TSIG key (BIND lets it write that name
# only); the others are signed with the shared ddns-key. Both kinds stay in use.
LAB_KEYED_SERVICES="web1"
lab_domain_ip()   { case $1 in web1) echo "$LAB_PRIMARY_NET.11";; web2) echo "$LAB_PRIMARY_NET.12";; esac; }
lab_domain_uuid() { case $1 in web1) echo 6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01;; web2) echo 6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a02;; esac; }
lab_domain_mac()  { case $1 in web1) echo 52:54:00:77:01:11;; web2) echo 52:54:00:77:01:12;; esac; }

# Every Debian package the lab needs; `scripts/lab up` installs the missing ones in one
# transaction (each component also asks for its own, a no-op then). systemd (for
# systemd-analyze, not as PID 1) and util-linux (unshare, setpriv) are for
# internal/deploy's tests of the units.
LAB_PACKAGES="lxd lxd-client busybox-static dnsmasq-base squashfs-tools btrfs-progs zabbix-server-pgsql
  zabbix-agent zabbix-frontend-php php-cli php-pgsql postgresql bind9 bind9-utils bind9-dnsutils
  snmp snmpd snmptrapd logrotate iproute2 libvirt-daemon libvirt-daemon-driver-lxc libvirt-clients
  etcd-server etcd-client systemd util-linux"

lab_log() { printf 'lab: %s\n' "$*" >&2; }
lab_die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

# LAB_POLICY_RC: the policy-rc.d that lab_apt installs when the machine has none (a
# policy-rc.d that answers 101 keeps packages from starting their own daemons on their
# default ports). The lab's own carries LAB_POLICY_RC_MARK, so that `down` removes only
# the one the lab installed: a machine's own (Docker images ship one) is never touched.
# common_test.sh points it into a temporary folder.
LAB_POLICY_RC=${VCR_LAB_POLICY_RC:-/usr/sbin/policy-rc.d}
LAB_POLICY_RC_MARK='# Installed by vcrcovery scripts/lab (lab_apt); scripts/lab down removes it.'

# lab_policy_rc_install: install the lab's policy-rc.d unless the machine has one.
lab_policy_rc_install() {
  [ -e "$LAB_POLICY_RC" ] && return 0
  printf '#!/bin/sh\n%s\nexit 101\n' "$LAB_POLICY_RC_MARK" >"$LAB_POLICY_RC" && chmod 755 "$LAB_POLICY_RC"
}

# lab_policy_rc_remove: remove the policy-rc.d if the lab installed it: it carries the
# mark, or it is byte for byte the two lines that labs before the mark wrote
# ("#!/bin/sh", "exit 101"). Anything else is the machine's and stays. Never fails.
lab_policy_rc_remove() {
  [ -f "$LAB_POLICY_RC" ] || return 0
  if grep -qxF "$LAB_POLICY_RC_MARK" "$LAB_POLICY_RC" 2>/dev/null ||
    [ "$(cat "$LAB_POLICY_RC" 2>/dev/null; echo x)" = "$(printf '#!/bin/sh\nexit 101\nx')" ]; then
    rm -f "$LAB_POLICY_RC"
    lab_log "removed $LAB_POLICY_RC (installed by the lab)"
  fi
  return 0
}

# lab_apt PKG...: install the Debian packages that are missing, in one transaction,
# under the lab's policy-rc.d (lab_policy_rc_install).
lab_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  lab_log "installing ${missing[*]}"
  lab_policy_rc_install || lab_die "cannot write $LAB_POLICY_RC"
  # Always refresh the lists before installing: a machine's lists can be older than the
  # mirror, and an install of a version the mirror no longer has fails.
  apt-get update -q >"$LAB_LOG/apt.log" 2>&1 || lab_die "apt-get update failed: see $LAB_LOG/apt.log"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    >>"$LAB_LOG/apt.log" 2>&1 || lab_die "apt-get install ${missing[*]} failed: see $LAB_LOG/apt.log"
}

# lab_alive PID [EXE] [MATCH]: whether PID is a live process, not a zombie, running the
# executable EXE and with MATCH in its command line (each when given). This is the one
# identity check before the lab signals a PID: PID files outlive their process (CI reuses
# a machine's $LAB_RUN right after a session's processes were ended), a reused PID must
# never be killed, and a zombie answers kill -0 (PID 1 here reaps orphans only about once
# a second).
lab_alive() {
  local pid=$1 exe=${2:-} match=${3:-} stat
  case $pid in '' | *[!0-9]*) return 1 ;; esac
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  # The state follows "(comm) ", and comm may hold spaces and parentheses.
  stat=${stat##*) }
  case ${stat%% *} in Z | X | x) return 1 ;; esac
  if [ -n "$exe" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$exe" ]; then return 1; fi
  if [ -n "$match" ]; then
    case $({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) in *"$match"*) ;; *) return 1 ;; esac
  fi
  return 0
}

# lab_pid NAME [EXE] [MATCH]: the PID of a process the lab started, if it still runs (and
# is what we started: lab_alive).
lab_pid() {
  local f=$LAB_RUN/$1.pid pid
  [ -r "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  lab_alive "$pid" "${2:-}" "${3:-}" || return 1
  echo "$pid"
}

# lab_start NAME CMD...: run CMD in its own session (so `down` can stop its whole process
# group), output to $LAB_LOG/NAME.log, PID to $LAB_RUN/NAME.pid. CMD must stay in the
# foreground (no self-daemonising), or the PID file would name a process that is gone.
lab_start() {
  local name=$1; shift
  mkdir -p "$LAB_LOG" "$LAB_RUN"
  # The daemon must inherit no descriptor above 2: not scripts/lab's lock (fd 9), or the
  # next `lab up` would wait for the daemon to exit, nor a lock of whoever called
  # scripts/lab (a test run under flock(1) that restarts a member would leave that lock
  # held by the daemon for ever).
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
    done
    exec setsid "$@" </dev/null >>"$LAB_LOG/$name.log" 2>&1
  ) &
  echo $! >"$LAB_RUN/$name.pid"
}

# LAB_STOP_GRACE: seconds between the stop signal and the KILL.
LAB_STOP_GRACE=${LAB_STOP_GRACE:-10}

# lab_kill PID SIGNAL [EXE] [MATCH]: stop PID if lab_alive says it is ours: SIGNAL to its
# process group (lab_start makes each daemon a session leader) or to PID alone when it
# leads none, KILL after LAB_STOP_GRACE seconds, then KILL whatever is left of its group
# (a child stuck in a retry loop). A zombie counts as stopped. It never fails, so a
# caller under `set -e` goes on when the process ends between the check and a signal.
lab_kill() {
  local pid=$1 sig=$2 exe=${3:-} match=${4:-} i
  lab_alive "$pid" "$exe" "$match" || return 0
  kill -s "$sig" -- "-$pid" 2>/dev/null || kill -s "$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < LAB_STOP_GRACE * 10; i++)); do
    lab_alive "$pid" "$exe" "$match" || break
    sleep 0.1
  done
  if lab_alive "$pid" "$exe" "$match"; then
    lab_log "PID $pid ignored SIG$sig for $LAB_STOP_GRACE s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # A process group's ID is not reused while a member lives: this reaches only its own.
  kill -KILL -- "-$pid" 2>/dev/null || true
  return 0
}

# lab_stop NAME [EXE] [MATCH] [SIGNAL]: stop the process lab_start started as NAME
# (lab_kill, SIGNAL default TERM) and remove its PID file; a PID file naming a process
# that is gone or not ours is only removed. Safe under `set -e`: it always returns 0.
lab_stop() {
  local name=$1 exe=${2:-} match=${3:-} sig=${4:-TERM} pid
  if pid=$(lab_pid "$name" "$exe" "$match"); then lab_kill "$pid" "$sig" "$exe" "$match"; fi
  rm -f "$LAB_RUN/$name.pid"
  return 0
}

# lab_wait NAME SECONDS WHAT CHECK...: wait up to SECONDS for CHECK to succeed once lab
# process NAME was started, giving up at once when NAME exits. On failure it shows the end
# of NAME's log and dies with "NAME WHAT" (e.g. WHAT "does not answer on 127.0.0.1:20161").
lab_wait() {
  local name=$1 deadline=$((SECONDS + $2)) what=$3
  shift 3
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ] || ! lab_pid "$name" >/dev/null; then
      tail -n 20 "$LAB_LOG/$name.log" >&2 2>/dev/null || true
      lab_pid "$name" >/dev/null || what="$what (it exited)"
      lab_die "$name $what: see $LAB_LOG/$name.log"
    fi
    sleep 0.1
  done
}

# lab_wait_tcp HOST PORT SECONDS: wait until a TCP port accepts connections.
lab_wait_tcp() {
  local host=$1 port=$2 deadline=$((SECONDS + $3))
  while [ $SECONDS -lt "$deadline" ]; do
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# lab_status_line NAME STATE ADDRESS: the format of every `status` line.
lab_status_line() { printf '%-18s %-8s %s\n' "$1" "$2" "$3"; }

# lab_proc_status NAME ADDRESS: status line for one process started by lab_start.
lab_proc_status() {
  if lab_pid "$1" >/dev/null; then lab_status_line "$1" up "$2"; else lab_status_line "$1" down "$2"; return 1; fi
}

# lab_umount_under DIR: unmount every mount below DIR, deepest first (LXD and libvirt
# leave mounts behind when their daemons are killed).
lab_umount_under() {
  local d=$1 m
  [ -d "$d" ] || return 0
  awk -v d="$d" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# lab_del_link NAME: delete a network link if it exists.
lab_del_link() { ip link show "$1" >/dev/null 2>&1 && ip link del "$1" 2>/dev/null; return 0; }
