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
	"github.com/vcrcovery/vcrcovery/internal/loadplan"
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

// TestAckMessage: the event acknowledgement says what -auto did: each move, or the
// loads that needed none.
func TestAckMessage(t *testing.T) {
	tests := []struct {
		name string
		r    AutoReport
		want string
	}{
		{
			name: "moved",
			r: AutoReport{Result: ResultOK, Message: "1 of 1 move(s) done", Seconds: 12.34,
				Plan:  []loadplan.Move{{Container: "web1", From: "standby", To: "big"}},
				Moves: []*Report{{Service: "web1", From: "standby", To: "big", Result: ResultOK, DowntimeSeconds: 0.7712}}},
			want: "vcrcovery migrate -auto: ok (exit 0) in 12.3 s: 1 of 1 move(s) done; web1 standby -> big: ok, downtime 0.771 s",
		},
		{
			name: "failed",
			r: AutoReport{Result: ResultProbe, ExitCode: 5, Message: "0 of 1 move(s) done", Seconds: 3,
				Plan:  []loadplan.Move{{Container: "web1", From: "standby", To: "big"}},
				Moves: []*Report{{Service: "web1", From: "standby", To: "big", Result: ResultProbe, ExitCode: 5, Message: "probe timeout (rolled back)"}}},
			want: "vcrcovery migrate -auto: probe-timeout (exit 5) in 3.0 s: 0 of 1 move(s) done; web1 standby -> big: probe-timeout (probe timeout (rolled back))",
		},
		{
			name: "none needed",
			r: AutoReport{Result: ResultOK, Message: "0 move(s) planned", Seconds: 1.2,
				Loads: []StandbyLoad{{Name: "standby", Overload: 0.5}, {Name: "big", Error: "unreachable"}}},
			want: "vcrcovery migrate -auto: ok (exit 0) in 1.2 s: 0 move(s) planned; no move needed: standby load 0.50; big unreadable",
		},
		{
			name: "stuck",
			r: AutoReport{Result: ResultOK, Message: "0 move(s) planned; still over, nothing fits: [standby]", Seconds: 1,
				Stuck: []string{"standby"}, Loads: []StandbyLoad{{Name: "standby", Overload: 1.5}}},
			want: "vcrcovery migrate -auto: ok (exit 0) in 1.0 s: 0 move(s) planned; still over, nothing fits: [standby]; no move fits: standby load 1.50",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.r.AckMessage()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
