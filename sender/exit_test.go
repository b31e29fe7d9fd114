package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor/hypervisortest"
	"github.com/vcrcovery/vcrcovery/internal/lab"
)

// TestExitCodes provokes every exit code of vcr-sender by its real cause (real SNMP
// over UDP to in-process agents, a trapper address nobody listens on, a read-only
// filesystem) and holds the codes proven against --help and sender/README.md.
func TestExitCodes(t *testing.T) {
	good := startAgent(t, nil)
	good.SetSource(func() []hypervisortest.Guest { return hypervisortest.Synthetic(2, time.Second) }, 0, nil)
	dead := startAgent(t, nil)
	dead.SetFault(hypervisortest.Silent)
	// fakeInventory's trapper is 127.0.0.1:1: connection refused.
	inv := fakeInventory(t, map[string]*hypervisortest.Agent{"good": good}, 200*time.Millisecond)
	withDead := fakeInventory(t, map[string]*hypervisortest.Agent{"good": good, "dead": dead}, 200*time.Millisecond)
	once := func(config string, more ...string) []string {
		return append([]string{"-config", config, "-once", "-interval", "1s", "-agent-cache", "0", "-state", filepath.Join(t.TempDir(), "state.json")}, more...)
	}
	tests := []struct {
		name string
		args []string
		want int
		say  string
	}{
		{"once, all sampled", once(inv, "-no-send"), cli.ExitOK, "hypervisors=1"},
		{"once, a hypervisor does not answer", once(withDead, "-no-send"), cli.ExitRuntime, "hypervisor=dead"},
		{"once, Zabbix trapper unreachable", once(inv), cli.ExitRuntime, "connection refused"},
		{"once, state file on a read-only filesystem", append(once(inv, "-no-send"), "-state", filepath.Join(lab.ReadOnlyDir(t), "state.json")), cli.ExitRuntime, "read-only file system"},
		{"zero interval", []string{"-config", inv, "-interval", "0s"}, cli.ExitUsage, "-interval must be positive"},
		{"unknown flag", []string{"-config", inv, "-no-such-flag"}, cli.ExitUsage, "no-such-flag"},
	}
	proven := map[int]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runSender(tt.args...)
			if code != tt.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.want, out, errs)
			}
			if !strings.Contains(out+errs, tt.say) {
				t.Errorf("output lacks %q:\n%s%s", tt.say, out, errs)
			}
			proven[code] = true
		})
	}
	_, _, help := runSender("-h")
	lab.CheckExitTables(t, proven, help, "README.md")
}
