# shellcheck shell=bash
# Lab component libvirt: the lab's "primary VMs". libvirtd 9.0 with only its LXC driver runs
# in its own mount namespace (scripts/lab.d/libvirt/libvirtd-ns.sh) with every libvirt
# folder bind-mounted from $LAB_LIBVIRT_DIR, and runs the domains of $LAB_DOMAINS: busybox
# containers on the bridge $LAB_PRIMARY_BRIDGE, each serving HTTP on IP:$LAB_SERVICE_PORT
# with a page naming it ("web1 primary"). Clients on the host reach the daemon through
# $LAB_LIBVIRT_URI. See the libvirt section of the lab notes for why it is built this way.

LAB_LIBVIRT_DIR=$LAB_DIR/libvirt
LAB_LIBVIRT_SOCK=$LAB_LIBVIRT_DIR/run/libvirt-sock
LAB_LIBVIRT_URI="lxc:///system?socket=$LAB_LIBVIRT_SOCK"
# libvirt's folders (lab folder name:system path), bind-mounted inside the namespace.
LAB_LIBVIRT_BINDS="etc:/etc/libvirt lib:/var/lib/libvirt cache:/var/cache/libvirt log:/var/log/libvirt run:/run/libvirt"

libvirt_virsh() { timeout 30 virsh -q -c "$LAB_LIBVIRT_URI" "$@"; }

# libvirt_ready: libvirtd, started by the lab, answers on its socket.
libvirt_ready() {
  lab_pid libvirtd >/dev/null && [ -S "$LAB_LIBVIRT_SOCK" ] &&
    timeout 5 virsh -q -c "$LAB_LIBVIRT_URI" version >/dev/null 2>&1
}

# libvirt_domstate DOM: libvirt's state of DOM as one word (running, shutoff, paused, ...).
libvirt_domstate() { libvirt_virsh domstate "$1" 2>/dev/null | tr -d ' \n'; }

libvirt_up() {
  lab_apt libvirt-daemon libvirt-daemon-driver-lxc libvirt-clients busybox-static iproute2
  local d=$LAB_LIBVIRT_DIR dom
  libvirt_adopt
  if ! libvirt_ready; then
    lab_stop libvirtd
    libvirt_cleanup
    libvirt_bridge
    libvirt_prepare
    # fd 9 is scripts/lab's lock: a daemon holding it would block the next `scripts/lab up`.
    lab_start libvirtd unshare -m --propagation private "$LAB_REPO/scripts/lab.d/libvirt/libvirtd-ns.sh" "$d" 9>&-
    lab_wait libvirtd 30 "does not answer on $LAB_LIBVIRT_SOCK" libvirt_ready
  else
    libvirt_bridge
  fi
  for dom in $LAB_DOMAINS; do
    libvirt_rootfs "$dom"
    libvirt_define "$dom"
  done
  for dom in $LAB_DOMAINS; do
    case $(libvirt_domstate "$dom") in
      running) ;;
      paused) libvirt_virsh resume "$dom" >/dev/null || lab_die "virsh resume $dom failed" ;;
      shutoff) libvirt_virsh start "$dom" >/dev/null || lab_die "virsh start $dom failed: see $LAB_LIBVIRT_DIR/log/lxc/$dom.log" ;;
      *) libvirt_virsh destroy "$dom" >/dev/null 2>&1 || true
         libvirt_virsh start "$dom" >/dev/null || lab_die "virsh start $dom failed: see $LAB_LIBVIRT_DIR/log/lxc/$dom.log" ;;
    esac
  done
  for dom in $LAB_DOMAINS; do
    lab_wait_tcp "$(lab_domain_ip "$dom")" "$LAB_SERVICE_PORT" 20 ||
      lab_die "domain $dom does not serve on $(lab_domain_ip "$dom"):$LAB_SERVICE_PORT: see $LAB_LIBVIRT_DIR/log/lxc/$dom.log"
  done
}

# libvirt_adopt: a libvirtd of this lab folder that runs while the lab's PID file is lost
# is taken over instead of being started twice (its own PID file is in the lab folder).
libvirt_adopt() {
  local pid
  lab_pid libvirtd >/dev/null && return 0
  pid=$(cat "$LAB_LIBVIRT_DIR/run/libvirtd.pid" 2>/dev/null) || return 0
  lab_alive "$pid" "$(readlink -f "$(command -v libvirtd)")" || return 0
  echo "$pid" >"$LAB_RUN/libvirtd.pid"
}

# libvirt_cleanup: remove what an earlier lab left when its processes were killed:
# domain processes (found by their cgroups and libvirt's PID files, never by name),
# mounts, libvirt's runtime folder with its stale sockets, veths and the bridge.
libvirt_cleanup() {
  local d=$LAB_LIBVIRT_DIR dom f pid pids cg l cgs=()
  for dom in $LAB_DOMAINS; do
    # The libvirt_lxc controller of the domain (its PID file is in the lab folder).
    f=$d/run/lxc/$dom.pid
    if [ -r "$f" ]; then
      pid=$(cat "$f" 2>/dev/null || true)
      if lab_alive "$pid" /usr/lib/libvirt/libvirt_lxc "--name $dom "; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    # The cgroups libvirt made for the domain (cgroup v1 per controller, or v2).
    for cg in /sys/fs/cgroup/*/machine/lxc-*-"$dom".libvirt-lxc /sys/fs/cgroup/machine/lxc-*-"$dom".libvirt-lxc; do
      if [ -d "$cg" ]; then cgs+=("$cg"); fi
    done
  done
  # The container's processes, by those cgroups: they survive their controller.
  if [ ${#cgs[@]} -gt 0 ]; then
    for _ in $(seq 50); do
      pids=$(cat "${cgs[@]/%//cgroup.procs}" 2>/dev/null | sort -u || true)
      [ -z "$pids" ] && break
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null || true
      sleep 0.1
    done
    for cg in "${cgs[@]}"; do find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
  fi
  lab_umount_under "$d"
  rm -rf "$d/run"
  if ip link show "$LAB_PRIMARY_BRIDGE" >/dev/null 2>&1; then
    for l in $(ip -o link show master "$LAB_PRIMARY_BRIDGE" | awk -F': ' '{print $2}' | cut -d@ -f1); do
      lab_del_link "$l"
    done
    lab_del_link "$LAB_PRIMARY_BRIDGE"
  fi
}

# libvirt_bridge: the primary bridge with the host's address on it.
libvirt_bridge() {
  local br=$LAB_PRIMARY_BRIDGE
  ip link show "$br" >/dev/null 2>&1 || ip link add "$br" type bridge
  ip addr replace "$LAB_PRIMARY_NET.1/24" dev "$br"
  ip link set "$br" up
}

# libvirt_prepare: the lab's libvirt folders, the driver folder and the mount points.
libvirt_prepare() {
  local d=$LAB_LIBVIRT_DIR m
  mkdir -p "$d/drivers" "$d/domains" "$d/rootfs"
  for m in $LAB_LIBVIRT_BINDS; do
    mkdir -p "$d/${m%%:*}"
    # Debian creates some of these folders only with libvirt-daemon-system: make the empty
    # mount point and remember it so `down` removes it again.
    if [ ! -d "${m#*:}" ]; then
      mkdir -p "${m#*:}"
      echo "${m#*:}" >>"$d/created-mountpoints"
    fi
  done
  local drv
  drv=$(dpkg -L libvirt-daemon-driver-lxc | grep '/libvirt_driver_lxc\.so$' | head -n 1)
  [ -r "$drv" ] || lab_die "no libvirt_driver_lxc.so in package libvirt-daemon-driver-lxc"
  ln -sfn "$drv" "$d/drivers/libvirt_driver_lxc.so"
  # Root only, no polkit, no TCP: the lab's clients run as root on this host.
  cat >"$d/etc/libvirtd.conf" <<'EOF'
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:stderr"
EOF
}

# libvirt_rootfs DOM: the busybox root of DOM, with its init and its own page.
libvirt_rootfs() {
  local dom=$1 r=$LAB_LIBVIRT_DIR/rootfs/$1 p
  # The domains have no libc: their busybox must be busybox-static's.
  if ldd /bin/busybox >/dev/null 2>&1; then
    lab_die "/bin/busybox is linked dynamically: install busybox-static"
  fi
  if [ ! -x "$r/bin/busybox" ] || ! cmp -s /bin/busybox "$r/bin/busybox"; then
    rm -rf "$r"
    mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,www}
    cp /bin/busybox "$r/bin/busybox"
    for p in $(/bin/busybox --list-full); do
      [ "$p" = bin/busybox ] || ln -sf /bin/busybox "$r/$p"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
    printf 'root:x:0:\n' >"$r/etc/group"
  fi
  mkdir -p "$r/lab"
  sed "s/@PORT@/$LAB_SERVICE_PORT/" "$LAB_REPO/scripts/lab.d/libvirt/init.sh" >"$r/sbin/lab-init.new"
  chmod 755 "$r/sbin/lab-init.new" && mv "$r/sbin/lab-init.new" "$r/sbin/lab-init"
  printf '%s primary\n' "$dom" >"$r/www/index.html"
}

# libvirt_define DOM: define DOM when it is missing or its XML changed. Defining again an
# unchanged domain is avoided: libvirt sends a lifecycle event ("Defined Updated"), which
# becomes a trap.
libvirt_define() {
  local dom=$1 x=$LAB_LIBVIRT_DIR/domains/$1.xml
  sed -e "s|@NAME@|$dom|" -e "s|@UUID@|$(lab_domain_uuid "$dom")|" -e "s|@MAC@|$(lab_domain_mac "$dom")|" \
    -e "s|@IP@|$(lab_domain_ip "$dom")|" -e "s|@BRIDGE@|$LAB_PRIMARY_BRIDGE|" \
    -e "s|@ROOT@|$LAB_LIBVIRT_DIR/rootfs/$dom|" "$LAB_REPO/scripts/lab.d/libvirt/domain.xml" >"$x.new"
  if cmp -s "$x.new" "$x" && libvirt_virsh domuuid "$dom" >/dev/null 2>&1; then
    rm -f "$x.new"
    return 0
  fi
  libvirt_virsh define "$x.new" >/dev/null || lab_die "virsh define $x.new failed"
  mv "$x.new" "$x"
}

libvirt_down() {
  local dom m
  if libvirt_ready; then
    for dom in $LAB_DOMAINS; do libvirt_virsh destroy "$dom" >/dev/null 2>&1 || true; done
  fi
  lab_stop libvirtd
  libvirt_cleanup
  if [ -r "$LAB_LIBVIRT_DIR/created-mountpoints" ]; then
    while read -r m; do rmdir "$m" 2>/dev/null || true; done <"$LAB_LIBVIRT_DIR/created-mountpoints"
    rm -f "$LAB_LIBVIRT_DIR/created-mountpoints"
  fi
  return 0
}

libvirt_status() {
  local rc=0 dom ip st
  if libvirt_ready; then
    lab_status_line libvirtd up "$LAB_LIBVIRT_URI"
  else
    lab_status_line libvirtd down "$LAB_LIBVIRT_URI"
    for dom in $LAB_DOMAINS; do lab_status_line "$dom" unknown "$(lab_domain_ip "$dom"):$LAB_SERVICE_PORT"; done
    return 1
  fi
  for dom in $LAB_DOMAINS; do
    ip=$(lab_domain_ip "$dom")
    st=$(libvirt_domstate "$dom") || st=
    if [ "$st" = running ] && ! lab_wait_tcp "$ip" "$LAB_SERVICE_PORT" 1; then st=no-http; fi
    [ "$st" = running ] || rc=1
    lab_status_line "$dom" "${st:-missing}" "$ip:$LAB_SERVICE_PORT"
  done
  return $rc
}

libvirt_env() {
  local dom up
  echo "export VCR_LAB_LIBVIRT_URI='$LAB_LIBVIRT_URI'"
  echo "export VCR_LAB_DOMAINS='$LAB_DOMAINS'"
  for dom in $LAB_DOMAINS; do
    up=$(echo "$dom" | tr '[:lower:]' '[:upper:]')
    echo "export VCR_LAB_DOMAIN_${up}_IP=$(lab_domain_ip "$dom")"
    echo "export VCR_LAB_DOMAIN_${up}_UUID=$(lab_domain_uuid "$dom")"
    echo "export VCR_LAB_DOMAIN_${up}_MAC=$(lab_domain_mac "$dom")"
    # Its root folder: creating lab/burn in it makes the domain use one vCPU fully.
    echo "export VCR_LAB_DOMAIN_${up}_ROOTFS=$LAB_LIBVIRT_DIR/rootfs/$dom"
  done
  echo "export VCR_LAB_SERVICE_PORT=$LAB_SERVICE_PORT"
}
