#!/usr/bin/env bash
# Tests of common.sh's process helpers (lab_alive, lab_pid, lab_kill, lab_stop, lab_wait) on
# throwaway processes in a temporary lab folder, under `set -euo pipefail` as scripts/lab
# runs them: a daemon that stops on TERM, one that ignores TERM, a PID file whose PID now
# runs something else, a zombie, a dead PID, a process that ends between the check and
# the signal, lab_wait on a process that is ready and on one that exits, and a lock
# held by the starter that the daemon must not inherit; and the policy-rc.d that `up`
# installs and `down` removes (only its own). It never touches the real lab. Run by internal/lab's TestCommonShell;
# prints "ok" and exits 0, or names the first failed check and exits 1.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
export VCR_LAB_DIR=$tmp/lab VCR_LAB_CACHE=$tmp/cache VCR_LAB_POLICY_RC=$tmp/policy-rc.d
# shellcheck source=scripts/lab.d/common.sh
. "$here/common.sh"
LAB_STOP_GRACE=1
mkdir -p "$LAB_LOG" "$LAB_RUN"
SLEEP=$(readlink -f "$(command -v sleep)")
strays=()
cleanup() {
  local p
  for p in "${strays[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# state PID: the process state letter (R, S, Z...), or "gone".
state() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo gone; return; }; s=${s##*) }; echo "${s%% *}"; }
# wait_state PID STATE: wait up to 5 s for PID to reach STATE.
wait_state() {
  local i
  for i in $(seq 50); do [ "$(state "$1")" = "$2" ] && return 0; sleep 0.1; done
  fail "PID $1 is $(state "$1"), want $2"
}

# 1. A daemon that stops on TERM: found, identified, stopped, its PID file removed.
lab_start obeys "$SLEEP" 300
pid=$(lab_pid obeys) || fail "lab_pid obeys: not found"
strays+=("$pid")
for _ in $(seq 50); do lab_alive "$pid" "$SLEEP" && break; sleep 0.1; done
lab_alive "$pid" "$SLEEP" || fail "lab_alive: sleep not seen as $SLEEP"
lab_alive "$pid" "$SLEEP" "$SLEEP 300" || fail "lab_alive: command line not matched"
! lab_alive "$pid" /usr/sbin/no-such-daemon || fail "lab_alive: wrong executable accepted"
! lab_alive "$pid" "" "sleep 301" || fail "lab_alive: wrong command line accepted"
lab_stop obeys 2>"$tmp/stop.err"
# The sleep is this shell's child: it stays a zombie until reaped, and counts as stopped.
[ "$(state "$pid")" = Z ] || [ "$(state "$pid")" = gone ] || fail "obeys: still $(state "$pid") after lab_stop"
! grep -q ignored "$tmp/stop.err" || fail "obeys: lab_stop waited for a zombie: $(cat "$tmp/stop.err")"
[ ! -e "$LAB_RUN/obeys.pid" ] || fail "obeys: PID file left"
wait "$pid" 2>/dev/null || true

# 2. A daemon that ignores TERM: KILLed after the grace, and lab_stop still returns 0.
lab_start stubborn bash -c "trap '' TERM; exec $SLEEP 300"
pid=$(cat "$LAB_RUN/stubborn.pid")
strays+=("$pid")
for _ in $(seq 50); do lab_alive "$pid" "$SLEEP" && break; sleep 0.1; done
lab_stop stubborn "$SLEEP" 2>"$tmp/stop.err"
grep -q "ignored SIGTERM" "$tmp/stop.err" || fail "stubborn: no KILL logged: $(cat "$tmp/stop.err")"
[ "$(state "$pid")" = Z ] || [ "$(state "$pid")" = gone ] || fail "stubborn: still $(state "$pid") after lab_stop"
wait "$pid" 2>/dev/null || true

# 3. A reused PID: the PID file names a live process that is not what the lab started.
"$SLEEP" 300 &
other=$!
strays+=("$other")
echo "$other" >"$LAB_RUN/reused.pid"
! lab_pid reused /usr/sbin/no-such-daemon >/dev/null || fail "reused: lab_pid accepted another executable"
lab_stop reused /usr/sbin/no-such-daemon
echo "$other" >"$LAB_RUN/reused.pid"
lab_stop reused "" "no-such-daemon --its-flags"
[ "$(state "$other")" = S ] || fail "reused: the other process is $(state "$other"): it was signalled"
[ ! -e "$LAB_RUN/reused.pid" ] || fail "reused: PID file left"

# 4. A zombie: kill -0 calls it alive; lab_alive and lab_pid do not, and lab_stop does
# not wait for it. Its parent (a sleep) never reaps it.
bash -c "$SLEEP 0.3 & echo \$! >'$tmp/zombie'; exec $SLEEP 300" &
strays+=("$!")
for _ in $(seq 50); do [ -s "$tmp/zombie" ] && break; sleep 0.1; done
zpid=$(cat "$tmp/zombie")
wait_state "$zpid" Z
kill -0 "$zpid" 2>/dev/null || fail "zombie: kill -0 fails already, the case proves nothing"
! lab_alive "$zpid" || fail "zombie: lab_alive says alive"
echo "$zpid" >"$LAB_RUN/zombie.pid"
! lab_pid zombie >/dev/null || fail "zombie: lab_pid found it"
lab_stop zombie 2>"$tmp/stop.err"
! grep -q ignored "$tmp/stop.err" || fail "zombie: lab_stop waited for it"
[ ! -e "$LAB_RUN/zombie.pid" ] || fail "zombie: PID file left"

# 5. A dead PID, an empty PID file and garbage.
"$SLEEP" 0 &
dead=$!
wait "$dead" || true
for content in "$dead" "" "12ab" "-1"; do
  echo "$content" >"$LAB_RUN/dead.pid"
  ! lab_pid dead >/dev/null || fail "dead: lab_pid found PID file content '$content'"
  lab_stop dead
  [ ! -e "$LAB_RUN/dead.pid" ] || fail "dead: PID file left for '$content'"
done
lab_stop never-started

# 6. The process ends between the check and the signal (every kill fails): lab_stop
# must not abort a caller under `set -e`. A fresh bash, so that errexit is not
# suspended by this script's own `||`.
lab_start racing "$SLEEP" 300
pid=$(cat "$LAB_RUN/racing.pid")
strays+=("$pid")
out=$(bash -euo pipefail -c '
  . "$1"; LAB_STOP_GRACE=0
  kill() { [ "$1" = -0 ] && builtin kill "$@"; return 1; } # every signal "fails"
  lab_stop racing
  echo survived' _ "$here/common.sh" 2>&1) || true
[ "$(echo "$out" | tail -n 1)" = survived ] || fail "racing: lab_stop aborted its set -e caller: $out"
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true

# 7. lab_wait: returns once the check holds; dies at once, saying so, when the process
# exits first (not after its SECONDS).
lab_start ready "$SLEEP" 300
strays+=("$(cat "$LAB_RUN/ready.pid")")
lab_wait ready 5 "never creates $tmp/flag" test -e "$tmp" || fail "lab_wait: an existing file was not seen"
lab_stop ready
lab_start quitter "$SLEEP" 0
out=$(bash -euo pipefail -c '. "$1"; lab_wait quitter 600 "never creates the flag" test -e /nonexistent; echo returned' \
  _ "$here/common.sh" 2>&1) || true
case $out in *"quitter never creates the flag (it exited)"*) ;; *) fail "lab_wait on an exited process: $out" ;; esac

# 8. A daemon inherits no descriptor but 0-2: not a lock its starter holds (the tests'
# flock), which it would otherwise hold for as long as it runs.
exec 7>"$tmp/held.lock"
flock 7
lab_start heir "$SLEEP" 300
pid=$(cat "$LAB_RUN/heir.pid")
strays+=("$pid")
for _ in $(seq 50); do lab_alive "$pid" "$SLEEP" && break; sleep 0.1; done
exec 7>&-
flock -n "$tmp/held.lock" true || fail "heir: the lock is still held by the started daemon"
for fd in /proc/"$pid"/fd/*; do [ "${fd##*/}" -le 2 ] || fail "heir: inherited fd ${fd##*/} -> $(readlink "$fd")"; done
lab_stop heir

# 9. policy-rc.d: installed where there is none (executable, answering 101), removed by
# lab_policy_rc_remove; a machine's own (Docker's) is neither replaced nor removed; the
# two-line file of labs before the mark is removed; a folder of that name stays.
lab_policy_rc_install
[ -x "$LAB_POLICY_RC" ] || fail "policy-rc.d: not installed as an executable"
rc=0; "$LAB_POLICY_RC" start snmpd || rc=$?
[ "$rc" = 101 ] || fail "policy-rc.d: answers $rc, want 101"
lab_policy_rc_install
lab_policy_rc_remove 2>/dev/null
[ ! -e "$LAB_POLICY_RC" ] || fail "policy-rc.d: the lab's own was not removed"
own=$'#!/bin/sh\n\n# For most Docker users, "apt-get install" only happens during "docker build".\nexit 101\n'
printf '%s' "$own" >"$LAB_POLICY_RC"
lab_policy_rc_install
lab_policy_rc_remove
[ "$(cat "$LAB_POLICY_RC"; echo x)" = "${own}x" ] || fail "policy-rc.d: the machine's own was changed or removed"
printf '%s\n%s\n%s\n' '#!/bin/sh' "$LAB_POLICY_RC_MARK" 'exit 0' >"$LAB_POLICY_RC"
lab_policy_rc_remove 2>/dev/null
[ ! -e "$LAB_POLICY_RC" ] || fail "policy-rc.d: a marked one was not removed"
printf '#!/bin/sh\nexit 101\n' >"$LAB_POLICY_RC"
lab_policy_rc_remove 2>/dev/null
[ ! -e "$LAB_POLICY_RC" ] || fail "policy-rc.d: the pre-mark lab's one was not removed"
printf '#!/bin/sh\nexit 101\n# local\n' >"$LAB_POLICY_RC"
lab_policy_rc_remove
[ -e "$LAB_POLICY_RC" ] || fail "policy-rc.d: one that only starts like the lab's was removed"
rm -f "$LAB_POLICY_RC"; mkdir "$LAB_POLICY_RC"
lab_policy_rc_remove
[ -d "$LAB_POLICY_RC" ] || fail "policy-rc.d: a folder was removed"

echo ok
