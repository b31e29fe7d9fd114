package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/datasync"
	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/fence"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/lock"
)

var (
	primaryIP   = netip.MustParseAddr("10.0.0.5")
	containerIP = netip.MustParseAddr("10.0.9.7")
	otherIP     = netip.MustParseAddr("10.0.8.8")
)

// fakes record what a run changed, so a test can check that refusals change nothing.
type fakeWorld struct {
	dns       []netip.Addr
	switchErr error
	lookupErr error
	verdict   fence.Verdict
	running   bool
	ensureErr error
	ipErr     error
	probeErr  error
	hookExit  int
	failOn    string // a command word that exits 1
	changes   []string
	reports   int
}

func (w *fakeWorld) Ensure(ctx context.Context, spec container.Spec) (container.Outcome, error) {
	if w.ensureErr != nil {
		return container.Outcome{}, w.ensureErr
	}
	if w.running {
		return container.Outcome{}, nil
	}
	w.running = true
	w.changes = append(w.changes, "start "+spec.Name)
	return container.Outcome{Started: true}, nil
}
func (w *fakeWorld) WaitIPv4(ctx context.Context, name, iface string) (netip.Addr, error) {
	return containerIP, w.ipErr
}
func (w *fakeWorld) Exec(ctx context.Context, name string, cmd []string) (container.ExecResult, error) {
	w.changes = append(w.changes, "exec "+strings.Join(cmd, " "))
	if w.failOn != "" && strings.Contains(strings.Join(cmd, " "), w.failOn) {
		return container.ExecResult{ExitCode: 1, Output: w.failOn + ": connection refused"}, nil
	}
	return container.ExecResult{ExitCode: w.hookExit, Output: "hook output"}, nil
}
func (w *fakeWorld) Running(ctx context.Context, name string) (bool, error) { return w.running, nil }
func (w *fakeWorld) Stop(ctx context.Context, name string) error {
	w.running = false
	w.changes = append(w.changes, "stop "+name)
	return nil
}
func (w *fakeWorld) Switch(ctx context.Context, name string, from, to netip.Addr) error {
	if w.switchErr != nil {
		return w.switchErr
	}
	if len(w.dns) != 1 || w.dns[0] != from {
		return dnsupdate.ErrLostRace
	}
	w.dns = []netip.Addr{to}
	w.changes = append(w.changes, fmt.Sprintf("dns %s->%s", from, to))
	return nil
}
func (w *fakeWorld) Lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	return w.dns, w.lookupErr
}
func (w *fakeWorld) Check(ctx context.Context, svc *config.Service) fence.Verdict { return w.verdict }
func (w *fakeWorld) Report(ctx context.Context, r *Report) error                  { w.reports++; return nil }

func run(t *testing.T, w *fakeWorld, mutate func(*Run)) *Report {
	t.Helper()
	svc := &config.Service{
		Name: "web1", DNSName: "web1.example.", PrimaryAddress: primaryIP, ZabbixHost: "web1",
		Probe:   config.Probe{Ports: []int{80}, Timeout: time.Second},
		Standby: config.ServiceStandby{Host: "standby", Mode: config.ModeWarm, Container: "web1"},
	}
	inv := &config.Inventory{StateDir: t.TempDir(), Services: []config.Service{*svc}}
	r := &Run{
		Inventory: inv, Service: svc, Containers: w, DNS: w, Fence: w, Reporter: w,
		Probe: func(ctx context.Context, svc *config.Service, addr netip.Addr) error { return w.probeErr },
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Refusals in these tests are meant; do not wait for evidence to change.
		FenceWait: -1,
	}
	if mutate != nil {
		mutate(r)
	}
	return r.Execute(context.Background())
}

func down() fence.Verdict {
	return fence.Verdict{Down: true, Evidence: []string{"libvirt state over snmp: shutoff"}}
}

func TestRecoverOutcomes(t *testing.T) {
	tests := []struct {
		name        string
		world       fakeWorld
		mutate      func(*Run)
		wantResult  string
		wantExit    int
		wantChanges []string
		wantMsg     string
	}{
		{"recovers", fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down()}, nil,
			ResultOK, 0, []string{"start web1", "dns 10.0.0.5->10.0.9.7"}, "done"},
		{"primary serves", fakeWorld{dns: []netip.Addr{primaryIP}, verdict: fence.Verdict{Serving: true}}, nil,
			ResultRefused, 3, nil, "the primary still serves"},
		{"not confirmed down", fakeWorld{dns: []netip.Addr{primaryIP}}, nil,
			ResultRefused, 3, nil, "not confirmed down"},
		{"maintenance", fakeWorld{dns: []netip.Addr{primaryIP}, verdict: fence.Verdict{Down: true, Maintenance: true}}, nil,
			ResultRefused, 3, nil, "maintenance"},
		{"force overrides fencing", fakeWorld{dns: []netip.Addr{primaryIP}, verdict: fence.Verdict{Serving: true}}, func(r *Run) { r.Force = true },
			ResultOK, 0, []string{"start web1", "dns 10.0.0.5->10.0.9.7"}, "done"},
		{"container fails", fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down(), ensureErr: errors.New("lxd down")}, nil,
			ResultContainer, 4, nil, "lxd down"},
		{"no address", fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down(), ipErr: errors.New("no IPv4")}, nil,
			ResultContainer, 4, []string{"start web1"}, "no IPv4"},
		{"probe timeout", fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down(), probeErr: errors.New("port silent")}, nil,
			ResultProbe, 5, []string{"start web1"}, "port silent"},
		{"dns refused", fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down(), switchErr: dnsupdate.ErrRefused}, nil,
			ResultDNS, 6, []string{"start web1"}, "refused"},
		{"dns lookup fails", fakeWorld{verdict: down(), lookupErr: errors.New("timeout")}, nil,
			ResultDNS, 6, nil, "timeout"},
		{"two A records", fakeWorld{dns: []netip.Addr{primaryIP, otherIP}, verdict: down()}, nil,
			ResultDNS, 6, nil, "has 2 A records"},
		{"recovered elsewhere", fakeWorld{dns: []netip.Addr{otherIP}, verdict: down()}, nil,
			ResultLostRace, 7, nil, "recovered elsewhere"},
		{"already ours", fakeWorld{dns: []netip.Addr{containerIP}, running: true}, nil,
			ResultAlreadyDone, 0, nil, "already points at standby/web1 10.0.9.7"},
		{"hook runs", fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down()}, func(r *Run) {
			r.Service.Hooks = []config.Hook{{Name: "promote", Command: []string{"promote"}, Timeout: time.Second}}
		}, ResultOK, 0, []string{"start web1", "exec timeout -s KILL 1 promote", "dns 10.0.0.5->10.0.9.7"}, "done"},
		{"hook fails", fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down(), hookExit: 1}, func(r *Run) {
			r.Service.Hooks = []config.Hook{{Name: "promote", Command: []string{"promote"}, Timeout: time.Second}}
		}, ResultContainer, 4, []string{"start web1", "exec timeout -s KILL 1 promote"}, "hook promote exited 1"},
		{"dry run changes nothing", fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down()}, func(r *Run) { r.DryRun = true },
			ResultPlanned, 0, nil, "done"},
		{"failback", fakeWorld{dns: []netip.Addr{containerIP}, running: true, verdict: fence.Verdict{Serving: true}}, func(r *Run) { r.Failback = true },
			ResultOK, 0, []string{"dns 10.0.9.7->10.0.0.5"}, "done"},
		{"failback cold stops", fakeWorld{dns: []netip.Addr{containerIP}, running: true, verdict: fence.Verdict{Serving: true}}, func(r *Run) {
			r.Failback = true
			r.Service.Standby.Mode = config.ModeCold
		}, ResultOK, 0, []string{"dns 10.0.9.7->10.0.0.5", "stop web1"}, "done"},
		{"failback refused while primary down", fakeWorld{dns: []netip.Addr{containerIP}, running: true}, func(r *Run) { r.Failback = true },
			ResultRefused, 3, nil, "does not serve yet"},
		{"failback already done", fakeWorld{dns: []netip.Addr{primaryIP}}, func(r *Run) { r.Failback = true },
			ResultAlreadyDone, 0, nil, "already points at the primary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.world
			rep := run(t, &w, tt.mutate)
			if rep.Result != tt.wantResult || rep.ExitCode != tt.wantExit {
				t.Fatalf("result %s exit %d (%s), want %s exit %d", rep.Result, rep.ExitCode, rep.Message, tt.wantResult, tt.wantExit)
			}
			if diff := cmp.Diff(tt.wantChanges, w.changes); diff != "" {
				t.Errorf("changes (-want +got)\n%s", diff)
			}
			if !strings.Contains(rep.Message, tt.wantMsg) {
				t.Errorf("message %q, want it to contain %q", rep.Message, tt.wantMsg)
			}
			wantReports := 1
			if tt.mutate != nil && rep.DryRun {
				wantReports = 0
			}
			if w.reports != wantReports {
				t.Errorf("%d reports to Zabbix, want %d", w.reports, wantReports)
			}
		})
	}
}

// TestDuplicateEvent: the same event handled successfully a moment ago is a no-op; after
// the window it runs again.
func TestDuplicateEvent(t *testing.T) {
	w := &fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down()}
	dir := t.TempDir()
	now := time.Unix(1_700_000_000, 0)
	setup := func(r *Run) { r.Inventory.StateDir, r.Event, r.Now = dir, "42", func() time.Time { return now } }
	if rep := run(t, w, setup); rep.Result != ResultOK {
		t.Fatalf("first: %+v", rep)
	}
	w.changes = nil
	rep := run(t, w, setup)
	if rep.Result != ResultAlreadyDone || !strings.Contains(rep.Message, "event 42 already handled") || len(w.changes) != 0 {
		t.Fatalf("duplicate: %+v, changes %v", rep, w.changes)
	}
}

// slowEvidence says "not down" a few times, then "down": a run started by trapd's fast
// path is ahead of the SNMP agent's cache and of Zabbix's history sync.
type slowEvidence struct {
	*fakeWorld
	left int
}

func (s *slowEvidence) Check(ctx context.Context, svc *config.Service) fence.Verdict {
	if s.left > 0 {
		s.left--
		return fence.Verdict{Evidence: []string{"libvirt state over snmp: running"}}
	}
	return down()
}

func TestFenceWaitsForEvidence(t *testing.T) {
	w := &fakeWorld{dns: []netip.Addr{primaryIP}}
	slow := &slowEvidence{fakeWorld: w, left: 3}
	rep := run(t, w, func(r *Run) { r.Fence, r.FenceWait, r.Clock = slow, 5*time.Second, &fence.StepClock{} })
	if rep.Result != ResultOK || slow.left != 0 {
		t.Fatalf("%+v (checks left %d)", rep, slow.left)
	}
	// Evidence that never comes: refused once the wait is over.
	w = &fakeWorld{dns: []netip.Addr{primaryIP}}
	slow = &slowEvidence{fakeWorld: w, left: 1 << 30}
	rep = run(t, w, func(r *Run) { r.Fence, r.FenceWait, r.Clock = slow, 300*time.Millisecond, &fence.StepClock{} })
	if rep.Result != ResultRefused || len(w.changes) != 0 {
		t.Fatalf("%+v, changes %v", rep, w.changes)
	}
}

// TestLockUnusable: a lock that cannot be taken at all is not a concurrent run: the
// run exits 1 (could not run), names state_dir/locks, and looks at nothing else.
// The folders fail for root too (tests run as root; chmod would not stop them).
func TestLockUnusable(t *testing.T) {
	tests := []struct {
		name     string
		stateDir func(t testing.TB) string
		wantErr  string
	}{
		{"state_dir under a file", func(t testing.TB) string { return lab.UnderFile(t, "state") }, "not a directory"},
		{"state_dir read-only", lab.ReadOnlyDir, "read-only file system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down()}
			dir := tt.stateDir(t)
			rep := run(t, w, func(r *Run) { r.Inventory.StateDir = dir })
			if rep.Result != ResultCannotRun || rep.ExitCode != cli.ExitRuntime {
				t.Fatalf("result %s exit %d (%s), want %s exit %d", rep.Result, rep.ExitCode, rep.Message, ResultCannotRun, cli.ExitRuntime)
			}
			for _, want := range []string{"state_dir/locks unusable", tt.wantErr} {
				if !strings.Contains(rep.Message, want) {
					t.Errorf("message %q lacks %q", rep.Message, want)
				}
			}
			if diff := cmp.Diff([]string{"lock", "report"}, stepNames(rep)); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if len(w.changes) != 0 {
				t.Errorf("changes %v", w.changes)
			}
		})
	}
}

// TestLockBusy: a lock that another run keeps for all of LockWait ends as 7 (that run
// is on it), not as 1.
func TestLockBusy(t *testing.T) {
	dir := t.TempDir()
	held, err := lock.Acquire(context.Background(), filepath.Join(dir, "locks", "web1.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()
	w := &fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down()}
	rep := run(t, w, func(r *Run) { r.Inventory.StateDir, r.LockWait = dir, 50*time.Millisecond })
	if rep.Result != ResultLostRace || rep.ExitCode != cli.ExitLostRace || !strings.Contains(rep.Message, "already in progress") {
		t.Fatalf("%+v", rep)
	}
}

// TestStateNotSaved: a full state_dir (ENOSPC) does not change the result of a
// recovery that succeeded, but the report and the log say that the state was not
// saved, and indeed a repeat of the event is not recognised as one (only DNS shows
// that the work is done).
func TestStateNotSaved(t *testing.T) {
	dir := lab.FullDir(t)
	w := &fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down()}
	var log strings.Builder
	setup := func(r *Run) {
		r.Inventory.StateDir, r.Event = dir, "42"
		r.Log = slog.New(slog.NewTextHandler(&log, nil))
	}
	rep := run(t, w, setup)
	if rep.Result != ResultOK || rep.ExitCode != cli.ExitOK {
		t.Fatalf("result %s exit %d (%s), want ok 0", rep.Result, rep.ExitCode, rep.Message)
	}
	if len(rep.Warnings) != 2 || !strings.Contains(rep.Warnings[0], "no space left on device") || !strings.Contains(rep.Warnings[1], "no space left on device") {
		t.Errorf("warnings %q, want two about the full disk (direction, state)", rep.Warnings)
	}
	if !strings.HasPrefix(rep.Message, "done; warning: direction not saved") || !strings.Contains(rep.Message, "warning: state not saved") {
		t.Errorf("message %q does not carry the warning", rep.Message)
	}
	if !strings.Contains(log.String(), "level=ERROR msg=\"state not saved") {
		t.Errorf("no error logged:\n%s", log.String())
	}
	rep = run(t, w, setup)
	if strings.Contains(rep.Message, "event 42 already handled") {
		t.Errorf("the repeat was recognised although no state was saved: %s", rep.Message)
	}
}

func stepNames(rep *Report) []string {
	var names []string
	for _, s := range rep.Steps {
		names = append(names, s.Name)
	}
	return names
}

// TestFailbackData: -failback runs quiesce, reverse sync and verify before the switch
// back; a failing step leaves the name on the container with its data and the
// direction "recovered" (exit 9, naming the step), and a rerun continues. A recovery
// marks the direction before its switch; the finished failback clears it.
func TestFailbackData(t *testing.T) {
	dir := t.TempDir()
	hooks := func(r *Run) {
		r.Inventory.StateDir = dir
		r.Service.Failback = config.Failback{
			Quiesce:     &config.Hook{Name: "quiesce", Command: []string{"readonly"}, Timeout: time.Second},
			ReverseSync: &config.Hook{Name: "reverse-sync", Command: []string{"push"}, Timeout: time.Second},
			Verify:      &config.Hook{Name: "verify", Command: []string{"compare"}, Timeout: time.Second},
		}
	}
	recovered := func() bool {
		d, err := datasync.LoadDirection(dir, "web1")
		if err != nil {
			t.Fatal(err)
		}
		return d.Recovered
	}
	w := &fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down()}
	if rep := run(t, w, hooks); rep.Result != ResultOK {
		t.Fatalf("recover: %s %s", rep.Result, rep.Message)
	}
	if !recovered() {
		t.Fatal("recover did not mark the direction")
	}

	w.changes, w.verdict, w.failOn = nil, fence.Verdict{Serving: true}, "push"
	back := func(r *Run) { hooks(r); r.Failback = true }
	rep := run(t, w, back)
	if rep.Result != ResultData || rep.ExitCode != cli.ExitData || !strings.Contains(rep.Message, "failback step reverse-sync failed, nothing switched") {
		t.Fatalf("failing reverse sync: %s exit %d: %s", rep.Result, rep.ExitCode, rep.Message)
	}
	if diff := cmp.Diff([]string{"exec timeout -s KILL 1 readonly", "exec timeout -s KILL 1 push"}, w.changes); diff != "" {
		t.Errorf("changes (-want +got)\n%s", diff)
	}
	if w.dns[0] != containerIP || !w.running || !recovered() || rep.ServedFrom != "standby/web1 10.0.9.7" {
		t.Errorf("after a failed step: dns %v running %v recovered %v served from %q", w.dns, w.running, recovered(), rep.ServedFrom)
	}

	w.changes, w.failOn = nil, ""
	rep = run(t, w, back)
	if rep.Result != ResultOK {
		t.Fatalf("rerun: %s %s", rep.Result, rep.Message)
	}
	want := []string{"exec timeout -s KILL 1 readonly", "exec timeout -s KILL 1 push", "exec timeout -s KILL 1 compare", "dns 10.0.9.7->10.0.0.5"}
	if diff := cmp.Diff(want, w.changes); diff != "" {
		t.Errorf("rerun changes (-want +got)\n%s", diff)
	}
	if recovered() {
		t.Error("the finished failback left the direction recovered")
	}
	if got := stepNames(rep); !strings.Contains(strings.Join(got, ","), "primary-check,quiesce,reverse-sync,verify,dns") {
		t.Errorf("steps %v", got)
	}
}

// TestFailbackFinishes: a name already on the primary with the direction still
// "recovered" (a switch whose end was cut off) is finished by -failback: the mark is
// cleared and a cold container stopped.
func TestFailbackFinishes(t *testing.T) {
	dir := t.TempDir()
	if err := datasync.MarkRecovered(dir, "web1", "recover", time.Now()); err != nil {
		t.Fatal(err)
	}
	w := &fakeWorld{dns: []netip.Addr{primaryIP}, running: true}
	rep := run(t, w, func(r *Run) {
		r.Inventory.StateDir, r.Failback = dir, true
		r.Service.Standby.Mode = config.ModeCold
	})
	if rep.Result != ResultAlreadyDone {
		t.Fatalf("%s %s", rep.Result, rep.Message)
	}
	if d, _ := datasync.LoadDirection(dir, "web1"); d.Recovered || w.running {
		t.Errorf("recovered %v running %v after finishing", d.Recovered, w.running)
	}
}

// loginEvidence is a Fencer whose Zabbix evidence exists only once the login finished,
// as the real Checker's (its API func returns nil before).
type loginEvidence struct {
	*fakeWorld
	loggedIn bool
}

func (l *loginEvidence) Check(ctx context.Context, svc *config.Service) fence.Verdict {
	v := fence.Verdict{Evidence: []string{"libvirt state over snmp: running"}}
	if l.loggedIn {
		v.Down = true
		v.Evidence = append(v.Evidence, "last state in zabbix: shutoff", "zabbix host web1: unreachable")
	}
	return v
}

// TestDryRunWaitsForEvidence: a dry run's plan shows the Zabbix evidence of a login
// that finishes after the run began, says so when the login fails or outlasts the
// bound, and a real run never waits for it.
func TestDryRunWaitsForEvidence(t *testing.T) {
	tests := []struct {
		name    string
		ready   func(l *loginEvidence) func(ctx context.Context) error
		want    string
		verdict string
	}{
		{"login finishes later", func(l *loginEvidence) func(context.Context) error {
			return func(ctx context.Context) error { time.Sleep(20 * time.Millisecond); l.loggedIn = true; return nil }
		}, "last state in zabbix: shutoff; zabbix host web1: unreachable", "): down"},
		{"login fails", func(l *loginEvidence) func(context.Context) error {
			return func(ctx context.Context) error { return errors.New("login refused") }
		}, "zabbix evidence unavailable: login refused", "would refuse: not confirmed down"},
		{"login outlasts the bound", func(l *loginEvidence) func(context.Context) error {
			return func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
		}, "zabbix evidence unavailable: context deadline exceeded", "would refuse: not confirmed down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWorld{dns: []netip.Addr{primaryIP}}
			l := &loginEvidence{fakeWorld: w}
			rep := run(t, w, func(r *Run) {
				r.Fence, r.DryRun, r.EvidenceWait = l, true, 50*time.Millisecond
				r.EvidenceReady = tt.ready(l)
			})
			var fenceLine string
			for _, p := range rep.Plan {
				if strings.HasPrefix(p, "fence ") {
					fenceLine = p
				}
			}
			if !strings.Contains(fenceLine, tt.want) || !strings.Contains(fenceLine, tt.verdict) {
				t.Fatalf("plan's fence line %q, want it to show %q and %q", fenceLine, tt.want, tt.verdict)
			}
		})
	}
	// A real run goes on without waiting: fencing refuses on what it has.
	w := &fakeWorld{dns: []netip.Addr{primaryIP}}
	l := &loginEvidence{fakeWorld: w}
	called := false
	rep := run(t, w, func(r *Run) {
		r.Fence = l
		r.EvidenceReady = func(ctx context.Context) error { called = true; l.loggedIn = true; return nil }
	})
	if called || rep.Result != ResultRefused {
		t.Fatalf("real run: waited for the login %v, result %s", called, rep.Result)
	}
}
