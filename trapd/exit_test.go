package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/lab"
)

// exitInventory writes an inventory that vcr-trapd can start with, needing no lab: a
// trap port free now, a trapper nobody listens on (values would only be spooled), and
// one hypervisor at hypAddr. It returns the inventory's path.
func exitInventory(t *testing.T, stateDir, listen, hypAddr, communityMode string) string {
	t.Helper()
	dir := t.TempDir()
	if stateDir == "" {
		stateDir = filepath.Join(dir, "state")
	}
	community := filepath.Join(dir, "community")
	if err := os.WriteFile(community, []byte("public\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	communities := filepath.Join(dir, "communities")
	if err := os.WriteFile(communities, []byte("public\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if communityMode == "loose" {
		// A secret file that others can read: refused, a configuration error.
		os.Chmod(communities, 0o644)
	}
	text := fmt.Sprintf(`state_dir: %s
zabbix:
  server: 127.0.0.1:9
snmp:
  trap_listen: [%q]
  communities_file: %s
hypervisors:
  - name: kvm1
    address: %s
    community_file: %s
`, stateDir, listen, communities, hypAddr, community)
	path := filepath.Join(dir, "vcrcovery.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMainExitCodes provokes every exit code of vcr-trapd by its real cause and holds
// the codes proven against --help and trapd/README.md. (0 after SIGTERM: TestMainSIGTERM.)
func TestMainExitCodes(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	good := exitInventory(t, "", freeUDP(t), "127.0.0.1:161", "")
	tests := []struct {
		name string
		args []string
		want int
		log  string // what stderr must say
	}{
		{"check", []string{"-config", good, "-check"}, cli.ExitOK, "valid"},
		{"bad mode", []string{"-config", good, "-mode", "sideways"}, cli.ExitUsage, "-mode"},
		{"unknown flag", []string{"-config", good, "-no-such-flag"}, cli.ExitUsage, "no-such-flag"},
		{"loose secret file", []string{"-config", exitInventory(t, "", freeUDP(t), "127.0.0.1:161", "loose")}, cli.ExitUsage, "communities_file"},
		{"trap port busy", []string{"-config", exitInventory(t, "", busy.LocalAddr().String(), "127.0.0.1:161", "")}, cli.ExitRuntime, "cannot start trap intake"},
		// .invalid never resolves (RFC 6761 6.4).
		{"hypervisor does not resolve", []string{"-config", exitInventory(t, "", freeUDP(t), "kvm1.vcrcovery.invalid:161", "")}, cli.ExitRuntime, "resolve kvm1.vcrcovery.invalid"},
		{"spool on a read-only filesystem", []string{"-config", good, "-spool-dir", filepath.Join(lab.ReadOnlyDir(t), "spool")}, cli.ExitRuntime, "read-only file system"},
		{"spool under a file", []string{"-config", good, "-spool-dir", lab.UnderFile(t, "spool")}, cli.ExitRuntime, "not a directory"},
		{"state_dir under a file", []string{"-config", exitInventory(t, lab.UnderFile(t, "state"), freeUDP(t), "127.0.0.1:161", "")}, cli.ExitRuntime, "known guests"},
		{"follow: log not followable", []string{"-config", good, "-mode", "follow", "-log-file", lab.UnderFile(t, "snmptrapd.log")}, cli.ExitRuntime, "cannot start trap intake"},
	}
	proven := map[int]bool{cli.ExitOK: true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runMain(t, tt.args...)
			if code != tt.want {
				t.Errorf("exit code %d, want %d:\n%s", code, tt.want, out)
			}
			if !strings.Contains(out, tt.log) {
				t.Errorf("output lacks %q:\n%s", tt.log, out)
			}
			proven[code] = true
		})
	}
	_, help := runMain(t, "-h")
	lab.CheckExitTables(t, proven, help, "README.md")
}

// runMain runs vcr-trapd's main in a child process and returns its exit code and
// output; it must end by itself.
func runMain(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := mainCmd(args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running after 20 s:\n%s", out.String())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}
