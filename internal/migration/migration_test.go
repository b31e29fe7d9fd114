package migration

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/lab"
)

type noDNS struct{}

func (noDNS) Switch(context.Context, string, netip.Addr, netip.Addr) error {
	panic("no DNS in this test")
}
func (noDNS) Lookup(context.Context, string) ([]netip.Addr, error) { panic("no DNS in this test") }

// TestRefusedBeforeTouchingAnything: refusals that need no LXD server end the run
// before any server is asked, with their documented exit codes.
func TestRefusedBeforeTouchingAnything(t *testing.T) {
	inv := &config.Inventory{
		StateDir: t.TempDir(),
		Standbys: []config.Standby{
			{Name: "standby", URL: "unix:///nonexistent/standby.socket", ZabbixHost: "standby"},
			{Name: "big", URL: "unix:///nonexistent/big.socket", ZabbixHost: "big"},
		},
		Services: []config.Service{{Name: "web1", ZabbixHost: "web1", DNSName: "web1.example.",
			Standby: config.ServiceStandby{Host: "standby", Container: "web1"}}},
	}
	inMaintenance := func(host string) func(context.Context, string) (bool, error) {
		return func(_ context.Context, h string) (bool, error) { return h == host, nil }
	}
	tests := []struct {
		name        string
		to          string
		maintenance func(context.Context, string) (bool, error)
		wantCode    int
		wantMsg     string
	}{
		{"unknown standby", "huge", nil, 2, `no standby "huge"`},
		{"primary in maintenance", "big", inMaintenance("web1"), 3, "web1 is in maintenance"},
		{"target in maintenance", "big", inMaintenance("big"), 3, "big is in maintenance"},
		{"target unreachable", "big", nil, 8, "target big unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Move{Inventory: inv, Service: &inv.Services[0], To: tt.to, DNS: noDNS{},
				Maintenance: tt.maintenance, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			rep := m.Execute(context.Background())
			if diff := cmp.Diff(tt.wantCode, rep.ExitCode); diff != "" {
				t.Errorf("exit code (-want +got):\n%s\n%s", diff, rep.Message)
			}
			if !strings.Contains(rep.Message, tt.wantMsg) {
				t.Errorf("message %q, want it to contain %q", rep.Message, tt.wantMsg)
			}
		})
	}
}

// TestLockUnusable: a lock that cannot be taken at all (state_dir under a file: ENOTDIR,
// for root too) is no concurrent run: exit 1, naming state_dir/locks, for a move and
// for -auto.
func TestLockUnusable(t *testing.T) {
	inv := &config.Inventory{
		StateDir: lab.UnderFile(t, "state"),
		Standbys: []config.Standby{{Name: "standby", URL: "unix:///nonexistent/standby.socket", ZabbixHost: "standby"},
			{Name: "big", URL: "unix:///nonexistent/big.socket", ZabbixHost: "big"}},
		Services: []config.Service{{Name: "web1", ZabbixHost: "web1", DNSName: "web1.example.",
			Standby: config.ServiceStandby{Host: "standby", Container: "web1"}}},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := &Move{Inventory: inv, Service: &inv.Services[0], To: "big", DNS: noDNS{}, Log: log}
	rep := m.Execute(context.Background())
	if rep.ExitCode != cli.ExitRuntime || !strings.Contains(rep.Message, "state_dir/locks unusable") {
		t.Errorf("move: exit %d (%s), want %d", rep.ExitCode, rep.Message, cli.ExitRuntime)
	}
	a := &Auto{Inventory: inv, Log: log}
	arep := a.Execute(context.Background())
	if arep.ExitCode != cli.ExitRuntime || !strings.Contains(arep.Message, "state_dir/locks unusable") {
		t.Errorf("-auto: exit %d (%s), want %d", arep.ExitCode, arep.Message, cli.ExitRuntime)
	}
}
