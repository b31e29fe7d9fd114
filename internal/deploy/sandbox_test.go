package deploy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// sandboxCmd returns argv run under the part of unit's sandbox that can be had
// without systemd: a private mount namespace whose whole file system is read-only
// (ProtectSystem=strict) except state, which stands for the unit's StateDirectory,
// the capability bounding set of CapabilityBoundingSet=, SupplementaryGroups= and
// NoNewPrivileges=. The
// system-call filter and the other Protect*= settings are not imitated.
func sandboxCmd(t *testing.T, u *Unit, state string, argv ...string) *exec.Cmd {
	t.Helper()
	if v := u.Values("Service", "ProtectSystem"); len(v) == 0 || v[len(v)-1] != "strict" {
		t.Fatalf("%s: ProtectSystem=%v, want strict", u.Name, v)
	}
	if u.Values("Service", "StateDirectory") == nil {
		t.Fatalf("%s: no StateDirectory=", u.Name)
	}
	bounding := "-all"
	for _, v := range u.Values("Service", "CapabilityBoundingSet") {
		for _, c := range strings.Fields(v) {
			bounding += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
		}
	}
	priv := []string{"setpriv", "--bounding-set=" + bounding, "--inh-caps=-all"}
	var gids []string
	for _, v := range u.Values("Service", "SupplementaryGroups") {
		for _, name := range strings.Fields(v) {
			g, err := user.LookupGroup(name)
			if err != nil {
				t.Fatalf("%s: SupplementaryGroups=%s: %v", u.Name, name, err)
			}
			gids = append(gids, g.Gid)
		}
	}
	if gids != nil {
		priv = append(priv, "--groups="+strings.Join(gids, ","))
	} else {
		priv = append(priv, "--clear-groups")
	}
	if v := u.Values("Service", "NoNewPrivileges"); len(v) > 0 && v[len(v)-1] == "yes" {
		priv = append(priv, "--no-new-privs")
	}
	script := `set -e; mount --bind "$1" "$1"; mount -o remount,bind,ro /; shift; exec "$@"`
	args := append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh", state}, priv...)
	args = append(append(args, "--"), argv...)
	return exec.Command("unshare", args...)
}

// sandboxUnit returns the unit file of scripts/systemd named name, and skips (fails in
// CI) where this machine cannot make the sandbox: unshare and setpriv (util-linux),
// and the right to make a mount namespace.
func sandboxUnit(t *testing.T, name string) *Unit {
	t.Helper()
	for _, bin := range []string{"unshare", "setpriv"} {
		if _, err := exec.LookPath(bin); err != nil {
			lab.Missing(t, bin+" (util-linux)", err)
		}
	}
	if out, err := exec.Command("unshare", "-m", "true").CombinedOutput(); err != nil {
		lab.Missing(t, "mount namespaces (unshare -m)", fmt.Errorf("%v: %s", err, out))
	}
	for _, u := range unitFiles(t) {
		if u.Name == name {
			return u
		}
	}
	t.Fatalf("no %s in scripts/systemd", name)
	return nil
}

// closedTCP returns a loopback address nothing listens on: a Zabbix trapper that
// cannot be reached, so the daemons keep what they send in state_dir's spools.
func closedTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// writeSandboxInventory writes an inventory of the lab's hypervisor agent, its state
// in state and Zabbix unreachable, plus extra, and returns its path. It lives outside
// state, read-only in the sandbox as /etc/vcrcovery would be.
func writeSandboxInventory(t *testing.T, state, extra string) string {
	t.Helper()
	community := lab.Need(t, "SNMP_COMMUNITY_FILE")
	agent := lab.Need(t, "SNMP_AGENT")
	inv := fmt.Sprintf(`state_dir: %s
zabbix: {server: %q, timeout: 1s}
hypervisors:
  - {name: lab-kvm, address: %q, version: "2c", community_file: %s, timeout: 2s}
%s`, state, closedTCP(t), agent, community, extra)
	path := filepath.Join(t.TempDir(), "vcrcovery.yaml")
	if err := os.WriteFile(path, []byte(inv), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// unitCommand returns the unit's ExecStart with -config pointing at inv, plus more.
func unitCommand(t *testing.T, dest string, u *Unit, inv string, more ...string) []string {
	t.Helper()
	args, err := Command(u.Values("Service", "ExecStart")[0], "x")
	if err != nil {
		t.Fatal(err)
	}
	args[0] = filepath.Join(dest, args[0])
	for i := range args {
		if args[i] == "-config" && i+1 < len(args) {
			args[i+1] = inv
		}
	}
	return append(args, more...)
}

// TestSandboxIsReal: the imitation of the units' sandbox makes everything read-only
// but state_dir, and takes away CAP_DAC_OVERRIDE (a root process can no longer read
// another user's private file), so the daemon tests below prove something.
func TestSandboxIsReal(t *testing.T) {
	u := sandboxUnit(t, "vcr-sender.service")
	state := t.TempDir()
	if out, err := sandboxCmd(t, u, state, "touch", filepath.Join(state, "probe")).CombinedOutput(); err != nil {
		t.Fatalf("state_dir not writable in the sandbox: %v\n%s", err, out)
	}
	outside := filepath.Join(t.TempDir(), "probe")
	if out, err := sandboxCmd(t, u, state, "touch", outside).CombinedOutput(); err == nil {
		t.Errorf("a file outside state_dir was written in the sandbox")
	} else if !bytes.Contains(out, []byte("Read-only file system")) {
		t.Errorf("touch outside state_dir: %v, %s; want a read-only file system", err, out)
	}
	private := filepath.Join(state, "private")
	if err := os.WriteFile(private, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(private, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if out, err := sandboxCmd(t, u, state, "cat", private).CombinedOutput(); err == nil {
		t.Errorf("root read nobody's 0600 file in the sandbox: CAP_DAC_OVERRIDE was not dropped (%s)", out)
	}
}

// freePrivilegedUDP returns a free loopback UDP port below 1024, as 162 is: binding it
// needs CAP_NET_BIND_SERVICE.
func freePrivilegedUDP(t *testing.T) string {
	t.Helper()
	for p := 1000; p > 900; p-- {
		addr := "127.0.0.1:" + strconv.Itoa(p)
		if c, err := net.ListenPacket("udp", addr); err == nil {
			c.Close()
			return addr
		}
	}
	t.Fatal("no free UDP port in 901-1000")
	return ""
}

// sandboxedTrapd is the installed vcr-trapd running in vcr-trapd.service's sandbox.
type sandboxedTrapd struct {
	cmd    *exec.Cmd
	logs   lab.SyncBuffer
	exited chan error
}

// startSandboxedTrapd starts the unit's ExecStart on inventory inv, with state as
// state_dir, the mode replaced by mode (as the unit's `systemctl edit` note says for
// follow), plus more.
func startSandboxedTrapd(t *testing.T, state, inv, mode string, more ...string) *sandboxedTrapd {
	t.Helper()
	u := sandboxUnit(t, "vcr-trapd.service")
	args := unitCommand(t, installed(t), u, inv, append([]string{"-stats-interval", "0", "-drain-timeout", "1s"}, more...)...)
	for i := range args {
		if args[i] == "-mode" && i+1 < len(args) {
			args[i+1] = mode
		}
	}
	d := &sandboxedTrapd{exited: make(chan error, 1)}
	d.cmd = sandboxCmd(t, u, state, args...)
	d.cmd.Stdout, d.cmd.Stderr = &d.logs, &d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("vcr-trapd's log:\n%s", d.logs.String())
		}
	})
	return d
}

// running fails the test if trapd has exited.
func (d *sandboxedTrapd) running(t *testing.T) {
	t.Helper()
	select {
	case err := <-d.exited:
		t.Fatalf("vcr-trapd exited: %v", err)
	default:
	}
}

// stop sends SIGTERM, wants exit 0, and checks the counters of the "trapd stopped"
// line and the start line.
func (d *sandboxedTrapd) stop(t *testing.T, counters map[string]int) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("vcr-trapd after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("vcr-trapd did not stop on SIGTERM")
	}
	out := d.logs.String()
	if !strings.Contains(out, "vcr-trapd starting") {
		t.Errorf("no start line with the version in the log")
	}
	for k, want := range counters {
		m := regexp.MustCompile(`msg="trapd stopped".* ` + k + `=(\d+)`).FindStringSubmatch(out)
		if m == nil || m[1] != strconv.Itoa(want) {
			t.Errorf("trapd stopped with %s=%v, want %d", k, m, want)
		}
	}
}

// TestSandboxedTrapd runs the installed vcr-trapd with vcr-trapd.service's ExecStart
// (listen mode) in the unit's sandbox on the lab: it binds a port below 1024 as 162 is
// (the unit keeps CAP_NET_BIND_SERVICE for it) with its whole 64 MiB socket buffer
// (CAP_NET_ADMIN, for SO_RCVBUFFORCE), takes the lab community from its root-owned secret
// file, receives and decodes guest traps, spools them to state_dir while Zabbix is
// unreachable, and stops on SIGTERM with exit 0.
func TestSandboxedTrapd(t *testing.T) {
	state := t.TempDir()
	listen := freePrivilegedUDP(t)
	inv := writeSandboxInventory(t, state, fmt.Sprintf("snmp:\n  trap_listen: [%q]\n  communities_file: %s\n", listen, lab.Need(t, "SNMP_COMMUNITY_FILE")))
	d := startSandboxedTrapd(t, state, inv, "listen")
	// Ready once its socket holds the port.
	lab.Until(t, "vcr-trapd binds "+listen, 10*time.Second, func() error {
		d.running(t)
		c, err := net.ListenPacket("udp", listen)
		if err == nil {
			c.Close()
			return fmt.Errorf("%s still free", listen)
		}
		return nil
	})
	community, err := os.ReadFile(lab.Need(t, "SNMP_COMMUNITY_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(listen)
	p, _ := strconv.Atoi(port)
	g := &gosnmp.GoSNMP{Target: host, Port: uint16(p), Version: gosnmp.Version2c, Community: strings.TrimSpace(string(community)), Timeout: 2 * time.Second}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Conn.Close()
	u1, _ := libvirtmib.ParseUUID("6f1c8a52-3e0b-4d5e-9a77-0c1d2e3fbeef")
	const traps = 3
	for range traps {
		if _, err := g.SendTrap(gosnmp.SnmpTrap{Variables: lab.GuestNotif("sandbox", u1, libvirtmib.StateRunning)}); err != nil {
			t.Fatal(err)
		}
	}
	waitSpooled(t, filepath.Join(state, "trapd", "spool"))
	d.stop(t, map[string]int{"received": traps, "decoded": traps, "dropped": 0})
	// The unit keeps what SO_RCVBUFFORCE needs: the whole 64 MiB buffer.
	if !regexp.MustCompile(`level=INFO msg="listening for traps" .*rcvbuf_bytes=67108864 `).MatchString(d.logs.String()) {
		t.Errorf("trapd did not get its 64 MiB socket buffer in the sandbox")
	}
}

// TestSandboxedTrapdFollow runs vcr-trapd.service's ExecStart in follow mode (the
// override the unit describes) in its sandbox: it reads snmptrapd's log, which
// Debian-snmp owns with mode 0640 and group adm as scripts/logrotate/snmptrapd creates
// it (nobody stands in for Debian-snmp), only through the unit's SupplementaryGroups
// (root has no CAP_DAC_OVERRIDE there); it keeps its position in state_dir and spools
// the values while Zabbix is unreachable; exit 0 on SIGTERM.
func TestSandboxedTrapdFollow(t *testing.T) {
	if _, err := user.LookupGroup("adm"); err != nil {
		t.Fatalf("no group adm on this machine: %v", err)
	}
	state := t.TempDir()
	logDir := t.TempDir()
	log := filepath.Join(logDir, "snmptrapd.log")
	const records = 3
	var b strings.Builder
	for i := range records {
		b.WriteString(lab.TrapLogRecord("g" + strconv.Itoa(i)))
	}
	if err := os.WriteFile(log, []byte(b.String()), 0o640); err != nil {
		t.Fatal(err)
	}
	adm, _ := user.LookupGroup("adm")
	gid, _ := strconv.Atoi(adm.Gid)
	if err := os.Chown(log, 65534, gid); err != nil {
		t.Fatal(err)
	}
	inv := writeSandboxInventory(t, state, fmt.Sprintf("snmp:\n  snmptrapd_log: %s\n", log))
	d := startSandboxedTrapd(t, state, inv, "follow", "-from-start")
	waitSpooled(t, filepath.Join(state, "trapd", "spool"))
	d.running(t)
	d.stop(t, map[string]int{"received": records, "decoded": records, "dropped": 0})
	if _, err := os.Stat(filepath.Join(state, "trapd", "follow.json")); err != nil {
		t.Errorf("no follow position saved in state_dir: %v", err)
	}
}

// waitSpooled waits until trapd's spool in state_dir holds values.
func waitSpooled(t *testing.T, spool string) {
	t.Helper()
	lab.Until(t, "values spooled in state_dir", 15*time.Second, func() error {
		if n := dirBytes(spool); n == 0 {
			return fmt.Errorf("%s is empty", spool)
		}
		return nil
	})
}

// TestSandboxedSender runs the installed vcr-sender with vcr-sender.service's
// ExecStart (daemon mode, two rounds) in the unit's sandbox, no capabilities at all:
// it samples the lab's agent over SNMP, and keeps the values it cannot send (Zabbix
// unreachable) in state_dir's spool; exit 0.
func TestSandboxedSender(t *testing.T) {
	u := sandboxUnit(t, "vcr-sender.service")
	dest := installed(t)
	state := t.TempDir()
	inv := writeSandboxInventory(t, state, "")
	var stdout, stderr bytes.Buffer
	cmd := sandboxCmd(t, u, state, unitCommand(t, dest, u, inv, "-rounds", "2", "-interval", "1s", "-agent-cache", "0", "-print")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("vcr-sender in the sandbox: %v\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("vcr-sender -rounds 2 did not end\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), "lab-kvm vcr.guest.state[") {
		t.Errorf("no guest state sampled from the lab's agent:\n%s\n%s", stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "vcr-sender starting") {
		t.Errorf("no start line with the version in the log:\n%s", stderr.String())
	}
	if n := dirBytes(filepath.Join(state, "sender", "spool")); n == 0 {
		t.Errorf("nothing spooled in state_dir/sender/spool while Zabbix was unreachable\n%s", stderr.String())
	}
}

// dirBytes returns the size of the files below dir (0 when it does not exist).
func dirBytes(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// TestSandboxedMigrateLoad runs vcr-migrate-load.service's ExecStart (vcr-migrate
// -auto -dry-run) in the unit's sandbox, without any capability, on the lab's
// inventory with its own state_dir: it reads every standby's load from LXD (the
// standby's unix socket on the read-only file system, the others over https with the
// client certificate), sends vcr.standby.overload to Zabbix and exits 0.
func TestSandboxedMigrateLoad(t *testing.T) {
	u := sandboxUnit(t, "vcr-migrate-load.service")
	dest := installed(t)
	src, err := os.ReadFile(lab.Need(t, "INVENTORY"))
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	re := regexp.MustCompile(`(?m)^state_dir: .*$`)
	if !re.Match(src) {
		t.Fatalf("the lab inventory has no state_dir line")
	}
	inv := filepath.Join(t.TempDir(), "vcrcovery.yaml")
	if err := os.WriteFile(inv, re.ReplaceAll(src, []byte("state_dir: "+state)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := sandboxCmd(t, u, state, unitCommand(t, dest, u, inv)...).CombinedOutput()
	if err != nil {
		t.Fatalf("vcr-migrate -auto -dry-run in the sandbox: %v\n%s", err, out)
	}
	for _, want := range []string{"standby standby: ", "standby big: ", "migrate -auto: planned (exit 0)"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
