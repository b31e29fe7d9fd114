# shellcheck shell=bash
# Lab component etcd: a three-member etcd cluster on loopback, the DCS of the cooperative
# pool (shared/DESIGN.md, "pool": leases for membership, transactions for commits and
# ownership). Debian's etcd-server 3.4 rather than the 3.7 server built from the Go module:
# it installs in about 5 s with the other lab packages, where a build takes about 36 s cold,
# and the v3.7 Go client the product uses speaks to it (shared/LAB-NOTES.md).
#
# Members m1-m3: clients on 127.0.0.1:20379/20381/20383, peers on 20380/20382/20384.
# Tests stop and restart single members with etcd_member_stop / etcd_member_start (through
# `scripts/lab etcd-member stop|start N`), so a member's data dir survives a stop; a
# restarted member must not be told --initial-cluster-state new again.

ETCD_DIR=$LAB_DIR/etcd
ETCD_MEMBERS="1 2 3"
etcd_client_port() { echo $((20377 + 2 * $1)); }
etcd_peer_port() { echo $((20378 + 2 * $1)); }

etcd_endpoints() {
  local n out=""
  for n in $ETCD_MEMBERS; do out+="${out:+,}http://127.0.0.1:$(etcd_client_port "$n")"; done
  echo "$out"
}

etcd_initial_cluster() {
  local n out=""
  for n in $ETCD_MEMBERS; do out+="${out:+,}m$n=http://127.0.0.1:$(etcd_peer_port "$n")"; done
  echo "$out"
}

# etcd_member_start N: start member N (new cluster when its data dir is empty).
etcd_member_start() {
  local n=$1 state=new
  lab_pid "etcd-m$n" >/dev/null && return 0
  [ -d "$ETCD_DIR/m$n/member" ] && state=existing
  mkdir -p "$ETCD_DIR/m$n"
  # Short heartbeats: the lab is one machine, and the pool's tests wait for elections.
  lab_start "etcd-m$n" etcd --name "m$n" --data-dir "$ETCD_DIR/m$n" \
    --listen-client-urls "http://127.0.0.1:$(etcd_client_port "$n")" \
    --advertise-client-urls "http://127.0.0.1:$(etcd_client_port "$n")" \
    --listen-peer-urls "http://127.0.0.1:$(etcd_peer_port "$n")" \
    --initial-advertise-peer-urls "http://127.0.0.1:$(etcd_peer_port "$n")" \
    --initial-cluster "$(etcd_initial_cluster)" --initial-cluster-token vcrcovery-lab \
    --initial-cluster-state "$state" --heartbeat-interval 100 --election-timeout 1000 \
    --logger zap --log-level warn
}

# etcd_member_stop N: stop member N, keeping its data. A 3.4 member ignores TERM for a
# few seconds while it steps down; lab_stop KILLs it after its grace period.
etcd_member_stop() { lab_stop "etcd-m$1"; }

# etcd_healthy: every member answers and the cluster has a leader.
etcd_healthy() {
  ETCDCTL_API=3 etcdctl --endpoints "$(etcd_endpoints)" --command-timeout=2s endpoint health >/dev/null 2>&1
}

etcd_up() {
  lab_apt etcd-server etcd-client
  if etcd_healthy; then return 0; fi
  local n
  # A cluster whose members were killed (CI after a session) may be half there: start
  # over from empty data dirs, the lab keeps nothing in etcd across `up`.
  for n in $ETCD_MEMBERS; do etcd_member_stop "$n"; done
  rm -rf "$ETCD_DIR"
  for n in $ETCD_MEMBERS; do etcd_member_start "$n"; done
  local i
  for i in $(seq 150); do etcd_healthy && return 0; sleep 0.1; done
  lab_die "etcd does not become healthy on $(etcd_endpoints): see $LAB_LOG/etcd-m*.log"
}

etcd_down() {
  local n
  for n in $ETCD_MEMBERS; do etcd_member_stop "$n"; done
  rm -rf "$ETCD_DIR"
}

etcd_status() {
  local n rc=0
  for n in $ETCD_MEMBERS; do
    lab_proc_status "etcd-m$n" "127.0.0.1:$(etcd_client_port "$n")" || rc=1
  done
  return $rc
}

etcd_env() {
  echo "export VCR_LAB_ETCD=$(etcd_endpoints)"
}
