# shellcheck shell=bash
# Lab component lxd: three real LXD daemons on one machine, standing in for the standby VM
# ("standby"), the bigger VM that containers migrate to ("big"), and a third host for the
# cooperative pool ("spare"; the pool uses all three as pool hosts).
#
#   lxd-standby  LXD_DIR $LAB_DIR/lxd-standby, bridge vcrsb0 10.77.2.1/24,
#                https on $LAB_LXD_STANDBY_ADDR (needed as the source of `lxc copy/move`)
#   lxd-big      LXD_DIR $LAB_DIR/lxd-big, bridge vcrbig0 10.77.3.1/24,
#                https on $LAB_LXD_BIG_ADDR with core.trust_password
#   lxd-spare    LXD_DIR $LAB_DIR/lxd-spare, bridge vcrsp0 10.77.4.1/24,
#                https on $LAB_LXD_SPARE_ADDR, set up like big
#
# Each has a `dir` pool "default" and a loop-backed btrfs pool "cow" ($_LXD_COW_SIZE file
# in LXD_DIR/disks, made by _lxd_cow; a pooled service with `pool.storage_pool: cow`
# lives there: LXD snapshots a running container on btrfs without freezing it, where on
# dir it freezes it while it copies its files), a default profile (root disk on
# "default", eth0 on their bridge) and
# the image "busybox", built here from busybox-static (see _lxd_image_build): a container
# launched from it gets an address by DHCP from LXD's dnsmasq and serves HTTP on port
# $LAB_SERVICE_PORT (busybox httpd, /www) at once; /www/index.html says
# "vcrcovery-lab busybox <container name>" and is rewritten at every boot, so after a
# copy or move it names the new container. The host reaches containers directly on
# their bridge addresses (it owns .1 on each bridge); containers cannot reach anything
# beyond their bridge (no NAT, no forwarding).
#
# The client side lives in LXD_CONF=$LAB_DIR/lxd-conf (never ~/.config/lxc): its client
# certificate is trusted by every daemon, and it has the remotes "big", "standby" and
# "spare", so
# with LXD_DIR=$LAB_DIR/lxd-standby `lxc copy c big:c` and `lxc move c big:c` work.

# The standby daemon also listens on the network: in LXD's default "pull" mode the target
# downloads from the source, so `lxc copy local:c big:c` fails with "The source server
# isn't listening on the network" otherwise (and the real standby VM listens anyway).
# A second loopback address keeps the same port as big, as two VMs would
# (LAB_LXD_STANDBY_ADDR is set in common.sh).

_LXD_CONF=$LAB_DIR/lxd-conf
_LXD_SECRET=$LAB_DIR/secrets/lxd-trust-password
_LXD_IMAGE=busybox
# The copy-on-write pool of every daemon (_lxd_cow): a sparse file, so 2 GiB costs only
# what the containers on it write.
_LXD_COW=cow
_LXD_COW_SIZE=2GiB
# The daemons, in start order. "spare" is the third host of the cooperative pool (issue
# 11), a pool host like standby and big.
_LXD_DAEMONS="standby big spare"
# Without a proxy that refuses, LXD looks up the image server's name on its first start
# (this machine has no DNS for it, and CI must never depend on the internet).
_LXD_NOPROXY=(HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9
  https_proxy=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9)

_lxd_dir() { echo "$LAB_DIR/lxd-$1"; }
_lxd_bridge() { case $1 in standby) echo "$LAB_STANDBY_BRIDGE";; big) echo "$LAB_BIG_BRIDGE";; spare) echo "$LAB_SPARE_BRIDGE";; esac; }
_lxd_net() { case $1 in standby) echo "$LAB_STANDBY_NET";; big) echo "$LAB_BIG_NET";; spare) echo "$LAB_SPARE_NET";; esac; }
_lxd_addr() { case $1 in standby) echo "$LAB_LXD_STANDBY_ADDR";; big) echo "$LAB_LXD_BIG_ADDR";; spare) echo "$LAB_LXD_SPARE_ADDR";; esac; }

# _lxd_cli standby|big ARGS...: the lxc client against one daemon's unix socket (its
# "local:" remote), with the lab's client config. The timeout keeps a wedged daemon from
# hanging `up`, `down` or `status`.
_lxd_cli() {
  local n=$1; shift
  LXD_DIR=$(_lxd_dir "$n") LXD_CONF=$_LXD_CONF timeout 60 lxc "$@"
}

# _lxd_pid standby|big: the PID of the daemon the lab started, checked by its executable
# and its own log file in its command line (lab_alive): CI starts right after a session
# whose processes were ended, so the PID of an old daemon may be reused by anything, even
# by the other daemon, and lab_stop would signal that process's whole group.
_lxd_pid() { lab_pid "lxd-$1" "$(_lxd_exe)" "$(_lxd_match "$1")"; }
_lxd_exe() { readlink -f "$(command -v lxd)"; }
_lxd_match() { echo "lxd --group root --logfile $LAB_LOG/lxd-$1.daemon.log"; }

# _lxd_answers standby|big: the daemon the lab started still runs and answers its socket.
_lxd_answers() {
  _lxd_pid "$1" >/dev/null || return 1
  LXD_DIR=$(_lxd_dir "$1") LXD_CONF=$_LXD_CONF timeout 10 lxc info >/dev/null 2>&1
}

# _lxd_ready standby|big: it answers and _lxd_start finished configuring it (a daemon
# whose preseed or image import failed answers too, but must be started afresh).
_lxd_ready() { [ -e "$(_lxd_dir "$1")/lab-ready" ] && _lxd_answers "$1"; }

# _lxd_healthy standby|big: ready, and reachable over https with the lab's client
# certificate through its remote (what `lxc copy` and the Go client need).
_lxd_healthy() { _lxd_ready "$1" && _lxd_cli "$1" info "$1:" >/dev/null 2>&1; }

# _lxd_kill_strays DIR: end, by PID, processes that belong to this LXD_DIR but outlive the
# daemon, each in its own session: the dnsmasq of its network (LXD keeps networks up
# across its own restarts), "lxd fork..." helpers, and the "[lxc monitor] DIR/containers
# NAME" process of each container, with the container. They are found by DIR in their command line, a path
# that only this lab's daemon uses.
_lxd_kill_strays() {
  local dir=$1 p cmd pid pids=()
  for p in /proc/[0-9]*; do
    # 2>/dev/null first: a process that ends meanwhile fails the redirection itself.
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    case $cmd in
      "dnsmasq "*"$dir/networks/"*) pids+=("${p#/proc/}") ;;
      # Helpers of proxy devices and the like, which LXD also starts in their own session.
      "lxd fork"*"$dir/"*) pids+=("${p#/proc/}") ;;
      "[lxc monitor] $dir/containers "*)
        # The container's init is a child of its monitor; killing PID 1 of a PID
        # namespace ends every process in it.
        for pid in $(cat "$p"/task/*/children 2>/dev/null); do pids+=("$pid"); done
        pids+=("${p#/proc/}")
        ;;
    esac
  done
  [ ${#pids[@]} -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
}

# _lxd_clean standby|big: stop one daemon and remove everything it left: containers,
# daemon, strays, mounts under its LXD_DIR, its bridge, the LXD_DIR itself. Works on a
# half-dead lab and on leftovers of an earlier one whose processes are gone.
_lxd_clean() {
  local n=$1 dir
  dir=$(_lxd_dir "$n")
  # Containers first, forcefully: the lab has nothing to save and a clean stop waits for
  # each init. Then TERM (lab_stop): with no container left it exits in about 1 s, where
  # `lxd shutdown` takes about 2 s and can hang on a stuck operation.
  _lxd_answers "$n" && { _lxd_cli "$n" stop --all --force >/dev/null 2>&1 || true; }
  lab_stop "lxd-$n" "$(_lxd_exe)" "$(_lxd_match "$n")"
  _lxd_kill_strays "$dir"
  _lxd_rm_cgroups "$dir"
  lab_umount_under "$dir"
  _lxd_loops_free "$dir"
  lab_del_link "$(_lxd_bridge "$n")"
  rm -rf "$dir"
}

# _lxd_loops_free DIR: detach the loop devices of the loop-backed pools in DIR/disks (the
# "cow" pool's). LXD sets them to autoclear, which detaches them with the last unmount;
# one still held (a lazy unmount of a busy mount) would otherwise keep the deleted file.
_lxd_loops_free() {
  local dir=$1 dev file
  losetup -n -O NAME,BACK-FILE 2>/dev/null | while read -r dev file; do
    case $file in "$dir/disks/"*) losetup -d "$dev" 2>/dev/null || true ;; esac
  done
}

# _lxd_cow NAME: the daemon has the btrfs pool "cow", created once (a loop file; LXD
# formats it with btrfs-progs' mkfs.btrfs and mounts it at each start).
_lxd_cow() {
  local n=$1 log=$LAB_LOG/lxd-$1.log
  _lxd_cli "$n" storage show "$_LXD_COW" >/dev/null 2>&1 && return 0
  _lxd_cli "$n" storage create "$_LXD_COW" btrfs size="$_LXD_COW_SIZE" >>"$log" 2>&1 ||
    lab_die "lxd-$n: storage create $_LXD_COW btrfs failed: see $log"
}

# _lxd_rm_cgroups DIR: remove the cgroups that liblxc leaves behind when a container's
# processes are killed instead of stopped (lxc.payload.NAME and lxc.monitor.NAME in
# every hierarchy). rmdir only removes empty cgroups, so a running container of the same
# name on the other daemon keeps its own.
_lxd_rm_cgroups() {
  local dir=$1 c name
  for c in "$dir"/containers/*; do
    [ -e "$c" ] || [ -L "$c" ] || continue
    name=${c##*/}
    find /sys/fs/cgroup/*/lxc.payload."$name" /sys/fs/cgroup/*/lxc.monitor."$name" \
      /sys/fs/cgroup/lxc.payload."$name" /sys/fs/cgroup/lxc.monitor."$name" \
      -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

# _lxd_image_build: build the busybox image once and cache the tarball in $LAB_CACHE; its
# name holds a hash of this function, the busybox binary and the port, so a change to any
# of them builds a new one. Prints the tarball's path.
_lxd_image_build() {
  local bb sum out tmp root p arch ver
  # busybox-static's binary (the rootfs has no libc); the package conflicts with the
  # dynamic "busybox", so once lab_apt installed it this path is the static one.
  bb=/bin/busybox
  sum=$({ declare -f _lxd_image_build; sha256sum <"$bb"; echo "$LAB_SERVICE_PORT"; } | sha256sum | cut -c1-16)
  out=$LAB_CACHE/lxd-busybox-$sum.tar.gz
  if [ -s "$out" ]; then echo "$out"; return 0; fi
  tmp=$(mktemp -d "$LAB_CACHE/lxd-image.XXXXXX")
  root=$tmp/rootfs
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,dev,proc,sys,tmp,run,var,root,www} "$tmp/templates"
  chmod 1777 "$root/tmp"
  ln -s ../run "$root/var/run"
  cp "$bb" "$root/bin/busybox"
  # read, not `for p in $(...)`: the list holds "usr/bin/[" and "usr/bin/[[" (globs).
  "$bb" --list-full | while read -r p; do
    [ "$p" = bin/busybox ] && continue
    mkdir -p "$root/${p%/*}"
    ln -sf /bin/busybox "$root/$p"
  done
  # Busybox init: rcS once, then keep the DHCP client and the web server running.
  # udhcpc stays in the foreground (-f) so it renews the lease; it retries every second
  # at first because the first DISCOVER can go out before the bridge port forwards.
  cat >"$root/etc/inittab" <<EOF
::sysinit:/etc/init.d/rcS
::respawn:/sbin/udhcpc -f -i eth0 -s /etc/udhcpc.script -t 10 -T 1 -A 1
::respawn:/usr/sbin/httpd -f -p $LAB_SERVICE_PORT -h /www
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
EOF
  cat >"$root/etc/init.d/rcS" <<'EOF'
#!/bin/sh
# Boot: loopback, link up, and the page httpd serves, named after this container (LXD
# sets the hostname to the container name, also after a copy or move).
ip link set lo up
ip link set eth0 up 2>/dev/null
echo "vcrcovery-lab busybox $(hostname)" >/www/index.html
EOF
  # udhcpc runs this with $1 = deconfig|bound|renew|leasefail|nak and the lease in the
  # environment ($ip, $mask as a prefix length, $router).
  cat >"$root/etc/udhcpc.script" <<'EOF'
#!/bin/sh
case $1 in
deconfig)
  ip -4 addr flush dev "$interface"
  ip link set "$interface" up
  ;;
bound|renew)
  # A renewal of the same address must not flush it: that would drop connections.
  if ! ip -4 addr show dev "$interface" | grep -q "inet $ip/"; then
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
  fi
  [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
  ;;
esac
exit 0
EOF
  chmod 755 "$root/etc/init.d/rcS" "$root/etc/udhcpc.script"
  echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
  echo "root:x:0:" >"$root/etc/group"
  echo localhost >"$root/etc/hostname"
  echo "127.0.0.1 localhost" >"$root/etc/hosts"
  echo "vcrcovery-lab busybox" >"$root/www/index.html"
  arch=$(uname -m)
  # The first line of busybox's help is "BusyBox v1.35.0 (...) multi-call binary."
  ver=$("$bb" 2>&1 || true)
  ver=${ver#BusyBox v}
  ver=${ver%% *}
  # LXD renders /etc/hostname from the template when a container is created or copied.
  cat >"$tmp/metadata.yaml" <<EOF
architecture: $arch
creation_date: $(date +%s)
properties:
  architecture: $arch
  os: busybox
  release: "$ver"
  description: vcrcovery lab busybox, HTTP on port $LAB_SERVICE_PORT
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
EOF
  echo '{{ container.name }}' >"$tmp/templates/hostname.tpl"
  tar --numeric-owner --owner=0 --group=0 -C "$tmp" -czf "$out.tmp" metadata.yaml templates rootfs
  rm -f "$LAB_CACHE"/lxd-busybox-*.tar.gz # images of earlier versions of this function
  mv "$out.tmp" "$out"
  rm -rf "$tmp"
  echo "$out"
}

# _lxd_secret: the trust password of both daemons, created once per lab (0600).
_lxd_secret() {
  if [ ! -s "$_LXD_SECRET" ]; then
    mkdir -p "$(dirname "$_LXD_SECRET")"
    # od reads a fixed amount: `tr </dev/urandom | head` dies of SIGPIPE under pipefail.
    (umask 077 && od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$_LXD_SECRET")
  fi
  chmod 600 "$_LXD_SECRET"
  cat "$_LXD_SECRET"
}

# _lxd_start standby|big IMAGE: start one daemon from a clean LXD_DIR, configure it with a
# preseed and import the image.
_lxd_start() {
  local n=$1 image=$2 dir bridge net addr pw log
  dir=$(_lxd_dir "$n"); bridge=$(_lxd_bridge "$n"); net=$(_lxd_net "$n"); addr=$(_lxd_addr "$n")
  log=$LAB_LOG/lxd-$n.log
  # sun_path holds 108 bytes: a deep VCR_LAB_DIR would make the socket unusable.
  [ ${#dir} -lt 90 ] || lab_die "LXD_DIR $dir is too long for a unix socket path"
  # Something else on our address (e.g. a daemon of a lab under another VCR_LAB_DIR) would
  # make the preseed fail later with a less clear error. TIME_WAIT does not matter: Go
  # listeners set SO_REUSEADDR.
  if [ -n "$(ss -Hltn "src ${addr%:*} and sport = :${addr##*:}" 2>/dev/null)" ]; then
    lab_die "lxd-$n: $addr is already in use: $(ss -Hltnp "src ${addr%:*} and sport = :${addr##*:}")"
  fi
  mkdir -p "$dir"
  chmod 711 "$dir"
  # 9>&-: scripts/lab holds its lock on fd 9; a daemon (and the dnsmasq it starts) that
  # inherited it would block every later `scripts/lab up|down lxd` for as long as it runs.
  lab_start "lxd-$n" env LXD_DIR="$dir" "${_LXD_NOPROXY[@]}" \
    lxd --group root --logfile "$LAB_LOG/lxd-$n.daemon.log" 9>&-
  if ! LXD_DIR=$dir timeout 70 lxd waitready --timeout=60; then
    tail -n 20 "$log" "$LAB_LOG/lxd-$n.daemon.log" >&2 2>/dev/null
    lab_die "lxd-$n did not become ready: see $log"
  fi
  pw=$(_lxd_secret)
  # ipv4.nat/routing false and dns.mode none keep containers on their bridge; the host
  # still reaches them directly because it owns .1 on the bridge (a connected route).
  # ipv4/ipv6.firewall false: LXD would otherwise program nftables or iptables, which
  # this machine lacks (it then fails with "ip6tables: executable file not found" even
  # without IPv6), and a lab has no business in the host's firewall anyway.
  if ! LXD_DIR=$dir timeout 60 lxd init --preseed >>"$log" 2>&1 <<EOF; then
config:
  core.https_address: "$addr"
  core.trust_password: "$pw"
storage_pools:
- name: default
  driver: dir
networks:
- name: $bridge
  type: bridge
  config:
    ipv4.address: $net.1/24
    ipv4.nat: "false"
    ipv4.routing: "false"
    ipv4.firewall: "false"
    ipv6.firewall: "false"
    ipv4.dhcp.ranges: $net.100-$net.199
    ipv6.address: none
    dns.mode: none
    raw.dnsmasq: no-resolv
profiles:
- name: default
  devices:
    root:
      type: disk
      path: /
      pool: default
    eth0:
      type: nic
      name: eth0
      network: $bridge
EOF
    tail -n 20 "$log" >&2
    lab_die "lxd-$n: preseed failed: see $log"
  fi
  _lxd_cli "$n" image import "$image" --alias "$_LXD_IMAGE" >>"$log" 2>&1 ||
    lab_die "lxd-$n: image import of $image failed: see $log"
  touch "$dir/lab-ready"
}

# _lxd_remotes: the client certificate is trusted by every daemon and a remote of each
# daemon's name points at its https address with the daemon's current certificate.
_lxd_remotes() {
  local n pw addr
  pw=$(_lxd_secret)
  mkdir -p "$_LXD_CONF"
  chmod 700 "$_LXD_CONF"
  for n in $_LXD_DAEMONS; do
    addr=$(_lxd_addr "$n")
    if _lxd_cli standby info "$n:" >/dev/null 2>&1; then continue; fi
    # A remote from an earlier lab holds the old daemon's certificate: replace it.
    _lxd_cli standby remote remove "$n" >/dev/null 2>&1 || true
    # The first `remote add` also creates client.crt/client.key in LXD_CONF; the password
    # makes the daemon trust that certificate.
    _lxd_cli standby remote add "$n" "https://$addr" --accept-certificate --password "$pw" \
      >>"$LAB_LOG/lxd-$n.log" 2>&1 || lab_die "lxc remote add $n https://$addr failed: see $LAB_LOG/lxd-$n.log"
  done
}

# _lxd_warm: the warm standbys of the lab inventory run on the standby daemon, as an
# operator would have set them up (cold ones are created by recover from the image).
_lxd_warm() {
  local c
  for c in $LAB_WARM_SERVICES; do
    if ! _lxd_cli standby info "$c" >/dev/null 2>&1; then
      _lxd_cli standby launch "$_LXD_IMAGE" "$c" >>"$LAB_LOG/lxd-standby.log" 2>&1 ||
        lab_die "lxd-standby: launch of warm standby $c failed: see $LAB_LOG/lxd-standby.log"
    elif ! _lxd_cli standby info "$c" 2>/dev/null | grep -q '^Status: RUNNING'; then
      _lxd_cli standby start "$c" >>"$LAB_LOG/lxd-standby.log" 2>&1 || true
    fi
  done
}

lxd_up() {
  local n image
  lab_apt lxd lxd-client busybox-static dnsmasq-base squashfs-tools iproute2 btrfs-progs
  local all=true
  for n in $_LXD_DAEMONS; do _lxd_healthy "$n" || { all=false; break; }; done
  if $all; then
    # Also a lab from before the cow pools gets them here.
    for n in $_LXD_DAEMONS; do _lxd_cow "$n"; done
    _lxd_warm
    return 0
  fi
  mkdir -p "$LAB_CACHE" "$LAB_LOG"
  image=$(_lxd_image_build)
  _lxd_secret >/dev/null # before the two starts, which both read it
  # The daemons are independent until _lxd_remotes: start them in parallel (saves about
  # 1.3 s of a 3.5 s up). Each runs in a subshell, where lab_die ends only that one.
  local pids=() rc=0 pid
  for n in $_LXD_DAEMONS; do
    _lxd_ready "$n" && continue
    ( _lxd_clean "$n"; _lxd_start "$n" "$image" ) &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  [ $rc -eq 0 ] || lab_die "lxd did not start: see $LAB_LOG/lxd-{${_LXD_DAEMONS// /,}}.log"
  _lxd_remotes
  for n in $_LXD_DAEMONS; do _lxd_cow "$n"; done
  _lxd_warm
}

# lxd_daemon_stop NAME: the pool host NAME dies: its containers stop with it (forcefully,
# as a power cut would), then the daemon, so its API goes away. Its LXD_DIR is kept, so
# lxd_daemon_start brings the host back with its containers' data, stopped.
lxd_daemon_stop() {
  local n=$1
  _lxd_answers "$n" && { _lxd_cli "$n" stop --all --force >/dev/null 2>&1 || true; }
  lab_stop "lxd-$n" "$(_lxd_exe)" "$(_lxd_match "$n")"
  _lxd_kill_strays "$(_lxd_dir "$n")"
  _lxd_rm_cgroups "$(_lxd_dir "$n")"
}

# lxd_daemon_start NAME: the pool host NAME comes back: its daemon starts on the LXD_DIR
# it had (containers, snapshots and trust kept; containers stay stopped, as after a
# reboot with boot.autostart off).
lxd_daemon_start() {
  local n=$1 dir
  dir=$(_lxd_dir "$n")
  _lxd_answers "$n" && return 0
  [ -e "$dir/lab-ready" ] || lab_die "lxd-$n was never set up: run scripts/lab up lxd"
  lab_start "lxd-$n" env LXD_DIR="$dir" "${_LXD_NOPROXY[@]}" \
    lxd --group root --logfile "$LAB_LOG/lxd-$n.daemon.log" 9>&-
  LXD_DIR=$dir timeout 70 lxd waitready --timeout=60 ||
    lab_die "lxd-$n did not become ready again: see $LAB_LOG/lxd-$n.daemon.log"
}

lxd_down() {
  local n
  # In parallel: each daemon takes about 1 s to exit.
  for n in $_LXD_DAEMONS; do _lxd_clean "$n" & done
  wait
  rm -rf "$_LXD_CONF" "$_LXD_SECRET"
  rmdir "$(dirname "$_LXD_SECRET")" 2>/dev/null || true
  return 0
}

lxd_status() {
  local n rc=0 addr
  for n in $_LXD_DAEMONS; do
    addr="$(_lxd_dir "$n")/unix.socket https://$(_lxd_addr "$n")"
    if _lxd_healthy "$n"; then
      lab_status_line "lxd-$n" up "$addr"
    elif _lxd_ready "$n"; then
      lab_status_line "lxd-$n" no-https "$addr"
      rc=1
    else
      lab_status_line "lxd-$n" down "$addr"
      rc=1
    fi
  done
  return $rc
}

lxd_env() {
  local sb big spare
  sb=$(_lxd_dir standby); big=$(_lxd_dir big); spare=$(_lxd_dir spare)
  printf 'export %s=%q\n' \
    VCR_LAB_LXD_CONF "$_LXD_CONF" \
    VCR_LAB_LXD_STANDBY_DIR "$sb" \
    VCR_LAB_LXD_STANDBY_SOCKET "$sb/unix.socket" \
    VCR_LAB_LXD_STANDBY_URL "https://$LAB_LXD_STANDBY_ADDR" \
    VCR_LAB_LXD_STANDBY_SERVER_CERT "$_LXD_CONF/servercerts/standby.crt" \
    VCR_LAB_LXD_BIG_DIR "$big" \
    VCR_LAB_LXD_BIG_SOCKET "$big/unix.socket" \
    VCR_LAB_LXD_BIG_URL "https://$LAB_LXD_BIG_ADDR" \
    VCR_LAB_LXD_BIG_SERVER_CERT "$_LXD_CONF/servercerts/big.crt" \
    VCR_LAB_LXD_SPARE_DIR "$spare" \
    VCR_LAB_LXD_SPARE_SOCKET "$spare/unix.socket" \
    VCR_LAB_LXD_SPARE_URL "https://$LAB_LXD_SPARE_ADDR" \
    VCR_LAB_LXD_SPARE_SERVER_CERT "$_LXD_CONF/servercerts/spare.crt" \
    VCR_LAB_LXD_TRUST_PASSWORD_FILE "$_LXD_SECRET" \
    VCR_LAB_LXD_CLIENT_CERT "$_LXD_CONF/client.crt" \
    VCR_LAB_LXD_CLIENT_KEY "$_LXD_CONF/client.key" \
    VCR_LAB_LXD_IMAGE "$_LXD_IMAGE" \
    VCR_LAB_LXD_IMAGE_PORT "$LAB_SERVICE_PORT"
}
