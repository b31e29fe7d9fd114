package drill

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/lock"
)

var scratchIP = netip.MustParseAddr("10.0.9.9")

// fakeLXD records what a drill did to the LXD server; instances holds what exists.
type fakeLXD struct {
	running   bool // the warm container
	ensureErr error
	ipErr     error
	failOn    string // a hook command word that exits 1
	probeErr  error
	removeErr error
	// cancel, when set, is called by the hook whose command holds "sleep": a SIGTERM
	// that arrives while the scratch instance runs its hooks.
	cancel    context.CancelFunc
	instances map[string]bool
	log       []string
	reports   []*Report
	leftovers []string // scratch instances of killed drills
}

func (f *fakeLXD) Ensure(ctx context.Context, spec container.Spec) (container.Outcome, error) {
	f.log = append(f.log, "ensure "+spec.Name+" from "+spec.Backup.Source)
	if f.ensureErr != nil {
		return container.Outcome{}, f.ensureErr
	}
	f.instances[spec.Name] = true
	return container.Outcome{Created: true, Started: true}, nil
}
func (f *fakeLXD) WaitIPv4(ctx context.Context, name, iface string) (netip.Addr, error) {
	return scratchIP, f.ipErr
}
func (f *fakeLXD) Exec(ctx context.Context, name string, cmd []string) (container.ExecResult, error) {
	c := strings.Join(cmd[4:], " ") // after timeout -s KILL SECS
	f.log = append(f.log, "exec "+name+": "+c)
	if f.cancel != nil && strings.Contains(c, "sleep") {
		f.cancel()
		return container.ExecResult{}, ctx.Err()
	}
	if f.failOn != "" && strings.Contains(c, f.failOn) {
		return container.ExecResult{ExitCode: 1, Output: "no answer"}, nil
	}
	return container.ExecResult{}, nil
}
func (f *fakeLXD) Running(ctx context.Context, name string) (bool, error) { return f.running, nil }
func (f *fakeLXD) Report(ctx context.Context, svc *config.Service, r *Report) error {
	f.reports = append(f.reports, r)
	return nil
}

func service(mode config.StandbyMode) *config.Service {
	svc := &config.Service{Name: "web2", Probe: config.Probe{Ports: []int{8080}, Timeout: time.Second},
		Standby:   config.ServiceStandby{Host: "standby", Mode: mode, Container: "web2"},
		Hooks:     []config.Hook{{Name: "start", Command: []string{"httpd"}, Timeout: time.Second}},
		TestHooks: []config.Hook{{Name: "check", Command: []string{"check-data"}, Timeout: time.Second}}}
	if mode == config.ModeCold {
		svc.Standby.Backup = config.Backup{Kind: config.BackupImage, Source: "busybox"}
	}
	return svc
}

func drill(t *testing.T, ctx context.Context, f *fakeLXD, svc *config.Service, stateDir string) *Report {
	if f.instances == nil {
		f.instances = map[string]bool{}
	}
	r := &Run{
		Inventory: &config.Inventory{StateDir: stateDir}, Service: svc, Containers: f,
		Remove: func(ctx context.Context, name string) error {
			if ctx.Err() != nil {
				t.Errorf("Remove got an ended context: %v", ctx.Err())
			}
			f.log = append(f.log, "remove "+name)
			if f.removeErr != nil {
				return f.removeErr
			}
			delete(f.instances, name)
			return nil
		},
		Leftovers: func(ctx context.Context, prefix string) ([]string, error) {
			var names []string
			for _, n := range f.leftovers {
				if strings.HasPrefix(n, prefix) {
					names = append(names, n)
				}
			}
			return names, nil
		},
		Probe: func(ctx context.Context, svc *config.Service, addr netip.Addr) error {
			f.log = append(f.log, "probe "+addr.String())
			return f.probeErr
		},
		Reporter: f, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Suffix: func() string { return "abc123" },
	}
	return r.Execute(ctx)
}

func TestDrill(t *testing.T) {
	warm, cold := config.ModeWarm, config.ModeCold
	const scratch = "web2-drill-abc123"
	tests := []struct {
		name       string
		mode       config.StandbyMode
		lxd        fakeLXD
		result     string
		step       string
		code       int
		log        []string
		reportsN   int // reports sent to Zabbix
		msgPattern string
	}{
		{"warm ready: test hooks only, nothing started", warm, fakeLXD{running: true}, ResultReady, "", cli.ExitOK,
			[]string{"exec web2: check-data", "probe 10.0.9.9"}, 1, "ready"},
		{"warm container stopped: not started by the drill", warm, fakeLXD{}, ResultNotReady, "container", cli.ExitContainer,
			nil, 1, "does not run"},
		{"warm test hook fails", warm, fakeLXD{running: true, failOn: "check-data"}, ResultNotReady, "hook:check", cli.ExitContainer,
			[]string{"exec web2: check-data"}, 1, "exited 1"},
		{"warm port silent", warm, fakeLXD{running: true, probeErr: errors.New("connection refused")}, ResultNotReady, "probe", cli.ExitProbe,
			[]string{"exec web2: check-data", "probe 10.0.9.9"}, 1, "connection refused"},
		{"cold ready: scratch created, hooks, probe, removed", cold, fakeLXD{}, ResultReady, "", cli.ExitOK,
			[]string{"ensure " + scratch + " from busybox", "exec " + scratch + ": httpd", "exec " + scratch + ": check-data", "probe 10.0.9.9", "remove " + scratch}, 1, "ready"},
		{"cold: a killed drill's leftover is swept first", cold, fakeLXD{leftovers: []string{"web2-drill-0ld000", "web1-drill-0ld000"}}, ResultReady, "", cli.ExitOK,
			[]string{"remove web2-drill-0ld000", "ensure " + scratch + " from busybox", "exec " + scratch + ": httpd", "exec " + scratch + ": check-data", "probe 10.0.9.9", "remove " + scratch}, 1, "ready"},
		{"cold backup missing: removed all the same", cold, fakeLXD{ensureErr: errors.New("image alias busybox: not found")}, ResultNotReady, "create", cli.ExitContainer,
			[]string{"ensure " + scratch + " from busybox", "remove " + scratch}, 1, "image alias busybox"},
		{"cold no address", cold, fakeLXD{ipErr: errors.New("no IPv4 on eth0")}, ResultNotReady, "address", cli.ExitContainer,
			[]string{"ensure " + scratch + " from busybox", "exec " + scratch + ": httpd", "exec " + scratch + ": check-data", "remove " + scratch}, 1, "no IPv4"},
		{"cold scratch left behind: warned, exit 4", cold, fakeLXD{removeErr: errors.New("lxd gone")}, ResultReady, "", cli.ExitContainer,
			[]string{"ensure " + scratch + " from busybox", "exec " + scratch + ": httpd", "exec " + scratch + ": check-data", "probe 10.0.9.9", "remove " + scratch}, 1, "left behind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.lxd
			rep := drill(t, context.Background(), &f, service(tt.mode), t.TempDir())
			if rep.Result != tt.result || rep.Step != tt.step || rep.ExitCode != tt.code || rep.Ready != (tt.result == ResultReady) {
				t.Errorf("result %s step %q exit %d ready %v, want %s %q %d", rep.Result, rep.Step, rep.ExitCode, rep.Ready, tt.result, tt.step, tt.code)
			}
			if !strings.Contains(rep.Message, tt.msgPattern) {
				t.Errorf("message %q lacks %q", rep.Message, tt.msgPattern)
			}
			if diff := cmp.Diff(tt.log, f.log); diff != "" {
				t.Errorf("what the drill did (-want +got)\n%s", diff)
			}
			if len(f.reports) != tt.reportsN {
				t.Errorf("%d reports, want %d", len(f.reports), tt.reportsN)
			}
			if f.removeErr == nil && len(f.instances) != 0 {
				t.Errorf("instances left: %v", f.instances)
			}
		})
	}
}

// TestDrillRefusedWhileLocked: a run holding the service's lock means no drill at all:
// nothing created, nothing probed, nothing reported, exit 3.
func TestDrillRefusedWhileLocked(t *testing.T) {
	dir := t.TempDir()
	l, err := lock.Acquire(context.Background(), lock.ServicePath(dir, "web2"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	for _, mode := range []config.StandbyMode{config.ModeWarm, config.ModeCold} {
		f := &fakeLXD{running: true}
		rep := drill(t, context.Background(), f, service(mode), dir)
		if rep.Result != ResultRefused || rep.ExitCode != cli.ExitRefused || !strings.Contains(rep.Message, "holds") {
			t.Errorf("%s: %+v", mode, rep)
		}
		if len(f.log) != 0 || len(f.reports) != 0 {
			t.Errorf("%s: a refused drill did %v and sent %d reports", mode, f.log, len(f.reports))
		}
	}
}

// TestDrillOneAtATime: a second drill of a service while one runs refuses (exit 3),
// so that a scratch instance found by a drill is always a leftover.
func TestDrillOneAtATime(t *testing.T) {
	dir := t.TempDir()
	l, err := lock.Acquire(context.Background(), lock.DrillPath(dir, "web2"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	f := &fakeLXD{leftovers: []string{"web2-drill-abc999"}}
	rep := drill(t, context.Background(), f, service(config.ModeCold), dir)
	if rep.Result != ResultRefused || rep.ExitCode != cli.ExitRefused || !strings.Contains(rep.Message, "another drill") || len(f.log) != 0 {
		t.Fatalf("%+v, did %v", rep, f.log)
	}
}

// TestDrillInterrupted: SIGTERM (the run's context cancelled) while the scratch
// instance runs its hooks: the instance is removed with a live context, nothing is
// reported (it says nothing about the standby), exit 1.
func TestDrillInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := service(config.ModeCold)
	svc.Hooks = []config.Hook{{Name: "slow", Command: []string{"sleep", "60"}, Timeout: time.Minute}}
	f := &fakeLXD{cancel: cancel}
	rep := drill(t, ctx, f, svc, t.TempDir())
	if rep.Result != ResultInterrupted || rep.ExitCode != cli.ExitRuntime || rep.Step != "hook:slow" {
		t.Fatalf("%+v", rep)
	}
	if len(f.instances) != 0 || f.log[len(f.log)-1] != "remove web2-drill-abc123" {
		t.Fatalf("scratch instance not removed: %v, log %v", f.instances, f.log)
	}
	if len(f.reports) != 0 {
		t.Fatalf("an interrupted drill reported %+v", f.reports[0])
	}
}

func TestScratchName(t *testing.T) {
	long := strings.Repeat("a", 60)
	for _, tt := range []struct{ in, want string }{
		{"web2", "web2-drill-abc123"},
		{long, strings.Repeat("a", 63-len("-drill-abc123")) + "-drill-abc123"},
		{strings.Repeat("a", 49) + "-b", strings.Repeat("a", 49) + "-drill-abc123"}, // no "--"
	} {
		if got := ScratchName(tt.in, "abc123"); got != tt.want || len(got) > 63 {
			t.Errorf("ScratchName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
