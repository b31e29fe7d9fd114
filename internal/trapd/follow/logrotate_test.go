package follow

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// snippet returns scripts/logrotate/snmptrapd made to act on log, with its postrotate
// command replaced by a SIGHUP to pid (what `systemctl reload snmptrapd` sends), and,
// where the machine has no Debian-snmp user, its create owner by root. Everything
// else (rename with create, delaycompress, compress, ...) is the shipped snippet's.
func snippet(t *testing.T, log string, pid int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(lab.Root(t), "scripts", "logrotate", "snmptrapd"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	// copytruncate loses the traps snmptrapd writes between logrotate's copy and its
	// truncation: a window this test could not hit reliably, so it is refused here.
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "copytruncate" {
			t.Fatalf("the snippet uses copytruncate: trapd's follow mode needs rotation by rename (create)")
		}
	}
	if !strings.Contains(s, "/var/log/snmptrapd.log {") {
		t.Fatalf("the snippet does not rotate /var/log/snmptrapd.log:\n%s", s)
	}
	s = strings.Replace(s, "/var/log/snmptrapd.log {", log+" {", 1)
	post := regexp.MustCompile(`(?s)(\n\s*postrotate\n).*?(\n\s*endscript)`)
	if !post.MatchString(s) {
		t.Fatalf("the snippet has no postrotate script (snmptrapd must reopen its log):\n%s", s)
	}
	s = post.ReplaceAllString(s, "${1}\t\tkill -HUP "+strconv.Itoa(pid)+"${2}")
	if _, err := user.Lookup("Debian-snmp"); err != nil {
		s = strings.Replace(s, "Debian-snmp adm", "root root", 1)
	}
	return s
}

// startSnmptrapd runs snmptrapd as the lab does (numeric OIDs, logging to log) on a
// free loopback port, and returns its address and PID.
func startSnmptrapd(t *testing.T, dir, log string) (string, int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "snmptrapd.conf"), []byte("[snmp] mibs :\ndisableAuthorization yes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := lab.FreeUDP(t)
	cmd := exec.Command("snmptrapd", "-f", "-C", "-c", filepath.Join(dir, "snmptrapd.conf"), "-X", "-n", "-A", "-m", "", "-On",
		"-Lf", log, "udp:"+addr)
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+filepath.Join(dir, "persist"), "SNMPCONFPATH="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	// It logs its start line once it listens.
	lab.Until(t, "snmptrapd logs its start", 10*time.Second, func() error {
		if b, _ := os.ReadFile(log); !bytes.Contains(b, []byte("NET-SNMP version")) {
			return fmt.Errorf("%s holds no start line yet", log)
		}
		return nil
	})
	return addr, cmd.Process.Pid
}

// logged returns the guest names of the trap records in every file of the rotated log
// (log.N.gz, log.1, log), oldest file first: what snmptrapd really wrote.
func logged(t *testing.T, log string) []string {
	t.Helper()
	files, _ := filepath.Glob(log + ".*")
	rank := func(f string) int { // log.3.gz before log.2.gz before log.1
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(f, log+"."), ".gz"))
		return -n
	}
	slices.SortFunc(files, func(a, b string) int { return rank(a) - rank(b) })
	var out []string
	for _, f := range append(files, log) {
		out = append(out, loggedIn(t, f)...)
	}
	return out
}

// loggedIn returns the guest names of the trap records in one log file (gzip'd if
// its name ends in .gz).
func loggedIn(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(file, ".gz") {
		z, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if b, err = io.ReadAll(z); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	var out []string
	for _, m := range guestName.FindAllSubmatch(b, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// guestName is the guest name varbind of a trap record as snmptrapd -On logs it.
var guestName = regexp.MustCompile(regexp.QuoteMeta(libvirtmib.NotifName) + ` = STRING: "(g[0-9]+)"`)

// TestLogrotateSnippet: a real snmptrapd logs a steady flow of guest traps while
// logrotate rotates its log three times with the shipped snippet
// (scripts/logrotate/snmptrapd: rename, create, delaycompress, compress, SIGHUP): the
// follower hands on every trap snmptrapd received exactly once, in order, across all
// three rotations (the third compresses the file the first one renamed).
func TestLogrotateSnippet(t *testing.T) {
	for _, bin := range []string{"snmptrapd", "logrotate"} {
		if _, err := exec.LookPath(bin); err != nil {
			lab.Missing(t, bin+" (packages snmptrapd, logrotate)", err)
		}
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "snmptrapd.log")
	addr, pid := startSnmptrapd(t, dir, log)
	conf := filepath.Join(dir, "logrotate.conf")
	if err := os.WriteFile(conf, []byte(snippet(t, log, pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := follow(t, dir, Options{Path: log, FromStart: true}, nil)
	defer r.stop(t)

	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	g := &gosnmp.GoSNMP{Target: host, Port: uint16(p), Version: gosnmp.Version2c, Community: "public", Timeout: 2 * time.Second}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Conn.Close()
	u, _ := libvirtmib.ParseUUID("6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a02")
	const n = 1200 // at one per millisecond: 1.2 s, the rotations at 0.3, 0.6 and 0.9 s
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			vars := lab.GuestNotif("g"+strconv.Itoa(i), u, libvirtmib.StateShutoff)
			if _, err := g.SendTrap(gosnmp.SnmpTrap{Variables: vars}); err != nil {
				sent <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
		sent <- nil
	}()
	for range 3 {
		time.Sleep(300 * time.Millisecond)
		out, err := exec.Command("logrotate", "-f", "-s", filepath.Join(dir, "logrotate.state"), conf).CombinedOutput()
		if err != nil {
			t.Fatalf("logrotate -f: %v\n%s", err, out)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	var want []string
	lab.Until(t, "snmptrapd logs every trap", 10*time.Second, func() error {
		if want = logged(t, log); len(want) < n {
			return fmt.Errorf("%d of %d traps in the log files", len(want), n)
		}
		return nil
	})
	// Three rotations happened in the middle of the flow: the renamed, the two
	// compressed files and the new log each hold traps.
	for _, f := range []string{log + ".3.gz", log + ".2.gz", log + ".1", log} {
		if got := loggedIn(t, f); len(got) == 0 {
			t.Errorf("%s holds no traps: the rotations did not happen while traps flowed", filepath.Base(f))
		}
	}
	// The ground truth is what snmptrapd logged (UDP may lose a trap before it), and
	// it must be the whole flow here.
	if len(want) != n {
		t.Errorf("snmptrapd logged %d traps, sent %d", len(want), n)
	}
	r.wait(t, want)
	t.Logf("%d traps, 3 rotations: each handed on once, in order", len(want))
}
