package sampler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/cpuusage"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor/hypervisortest"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// recorder is a Sink that keeps what it is sent; keys for which reject is true are
// refused like Zabbix refuses items it does not have.
type recorder struct {
	mu     sync.Mutex
	values []zabbix.Value
	reject func(zabbix.Value) bool
}

func (r *recorder) Send(_ context.Context, vs []zabbix.Value) (zabbix.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := zabbix.Result{Total: len(vs)}
	for _, v := range vs {
		if r.reject != nil && r.reject(v) {
			res.Failed++
			res.Rejected = append(res.Rejected, v)
			continue
		}
		res.Processed++
		r.values = append(r.values, v)
	}
	if res.Failed > 0 {
		return res, fmt.Errorf("send: %w", zabbix.ErrRejected)
	}
	return res, nil
}

// series returns "host key value" lines of the values whose key starts with prefix,
// grouped by clock.
func (r *recorder) series(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, v := range r.values {
		if strings.HasPrefix(v.Key, prefix) {
			out = append(out, fmt.Sprintf("%s %s %s %s", v.Clock.UTC().Format("15:04:05.000"), v.Host, v.Key, v.Value))
		}
	}
	sort.Strings(out)
	return out
}

func (r *recorder) find(host, key string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, v := range r.values {
		if v.Host == host && v.Key == key {
			out = append(out, v.Value)
		}
	}
	return out
}

// fakeFleet starts one fake agent per name and returns an inventory with them.
func fakeFleet(t testing.TB, names ...string) (*config.Inventory, map[string]*hypervisortest.Agent) {
	t.Helper()
	inv := &config.Inventory{}
	agents := map[string]*hypervisortest.Agent{}
	dir := t.TempDir()
	for _, n := range names {
		a, err := hypervisortest.Start("c-"+n, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		h, err := a.Hypervisor(dir, n)
		if err != nil {
			t.Fatal(err)
		}
		inv.Hypervisors = append(inv.Hypervisors, h)
		agents[n] = a
	}
	return inv, agents
}

var t0 = cpuusage.Reading{Wall: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC), Mono: 1000 * time.Second, Boot: "boot-1"}

// syntheticCPU is the CPU % of hypervisortest.Synthetic's guest i.
func syntheticCPU(i int) string { return FormatCPU(float64(i%100+1) / float64(1+i%4)) }

// TestCronMatchesDaemon: the same agent data sampled by the daemon's loop and by three
// cron runs (each a new engine continuing from the state file) gives the same series,
// and the values are exactly the synthetic guests' loads. The agent caches its table
// for 5 s and reads it on the first request after that, as libvirt-snmp does; the
// clock is fake, so both series are deterministic.
func TestCronMatchesDaemon(t *testing.T) {
	const n = 40
	run := func(t *testing.T, cron bool) []string {
		inv, agents := fakeFleet(t, "kvm1", "kvm2")
		clk := cpuusage.NewFakeClock(t0)
		for name, a := range agents {
			off := time.Duration(len(name)) * time.Hour // the two tables differ
			a.SetSource(func() []hypervisortest.Guest { return hypervisortest.Synthetic(n, clk.Now().Mono+off) }, 5*time.Second,
				func() time.Duration { return clk.Now().Mono })
		}
		rec := &recorder{}
		o := Options{Inventory: inv, Log: slog.New(slog.NewTextHandler(&lab.SyncBuffer{}, nil)), Clock: clk, Sink: rec,
			Policy: cpuusage.Policy{Interval: 5 * time.Second}, AgentCache: 5 * time.Second, Concurrency: 1}
		if cron {
			state := filepath.Join(t.TempDir(), "state.json")
			for range 3 {
				if _, err := Once(context.Background(), o, OnceOptions{StatePath: state, Align: true}); err != nil {
					t.Fatal(err)
				}
			}
		} else {
			e, err := New(o, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if err := e.Run(context.Background(), 3); err != nil {
				t.Fatal(err)
			}
		}
		return rec.series("vcr.guest.")
	}
	daemon, cron := run(t, false), run(t, true)
	if diff := cmp.Diff(daemon, cron); diff != "" {
		t.Fatalf("daemon (-) and cron (+) series differ:\n%s", diff)
	}
	// Two samples with a CPU % per guest and hypervisor, each exactly the guest's load.
	want := 0
	for _, line := range daemon {
		f := strings.Fields(line)
		if !strings.HasPrefix(f[2], "vcr.guest.cpu[") {
			continue
		}
		want++
		u, _ := libvirtmib.ParseUUID(strings.TrimSuffix(strings.TrimPrefix(f[2], "vcr.guest.cpu["), "]"))
		i := int(u[14])<<8 | int(u[15])
		if f[3] != syntheticCPU(i) {
			t.Errorf("%s: want %s", line, syntheticCPU(i))
		}
	}
	if want != 2*2*n {
		t.Errorf("%d CPU values, want %d:\n%s", want, 2*2*n, strings.Join(daemon, "\n"))
	}
	t.Logf("%d values, e.g. %s", len(daemon), daemon[len(daemon)-1])
}

// TestFreshTable: an agent whose cache outlives the interval a little serves the old
// table at the tick. The sender notices (the busy sentinels did not move), waits for
// the refresh and stamps the sample with the refresh's time: every value is exact.
// Without the check (AgentCache 0) the same agent makes 0 % and then double values.
func TestFreshTable(t *testing.T) {
	const n = 12
	run := func(t *testing.T, agentTTL, engineCache time.Duration, rounds int) (*recorder, []Report) {
		inv, agents := fakeFleet(t, "kvm")
		clk := cpuusage.NewFakeClock(t0)
		agents["kvm"].SetSource(func() []hypervisortest.Guest { return hypervisortest.Synthetic(n, clk.Now().Mono) }, agentTTL,
			func() time.Duration { return clk.Now().Mono })
		rec := &recorder{}
		e, err := New(Options{Inventory: inv, Log: slog.New(slog.NewTextHandler(&lab.SyncBuffer{}, nil)), Clock: clk, Sink: rec,
			Policy: cpuusage.Policy{Interval: 5 * time.Second, Slack: 100}, AgentCache: engineCache, Concurrency: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		var reps []Report
		for range rounds {
			now := clk.Now()
			clk.Advance(cpuusage.NextTick(now.Wall, 5*time.Second).Sub(now.Wall))
			reps = append(reps, e.Round(context.Background(), clk.Now()))
		}
		return rec, reps
	}
	cpuValues := func(rec *recorder) map[string]int {
		got := map[string]int{}
		for _, line := range rec.series("vcr.guest.cpu[") {
			f := strings.Fields(line)
			u, _ := libvirtmib.ParseUUID(strings.TrimSuffix(strings.TrimPrefix(f[2], "vcr.guest.cpu["), "]"))
			i := int(u[15])
			if f[3] == syntheticCPU(i) {
				got["exact"]++
			} else {
				got[f[3]]++
			}
		}
		return got
	}

	t.Run("checked", func(t *testing.T) {
		rec, reps := run(t, 5*time.Second+30*time.Millisecond, 5*time.Second, 4)
		if diff := cmp.Diff(map[string]int{"exact": 3 * n}, cpuValues(rec)); diff != "" {
			t.Errorf("(-want +got)\n%s", diff)
		}
		for _, r := range reps[1:] {
			h := r.Hypervisors[0]
			if h.Wait <= 0 || h.At.Mono <= r.Tick.Mono {
				t.Errorf("sample at %v after tick %v, wait %v: want a wait for the refresh", h.At.Mono, r.Tick.Mono, h.Wait)
			}
		}
	})
	t.Run("unchecked", func(t *testing.T) {
		rec, _ := run(t, 5*time.Second+30*time.Millisecond, 0, 4)
		got := cpuValues(rec)
		if got["0"] == 0 {
			t.Errorf("no 0 %% values from the stale table: %v", got)
		}
	})
	t.Run("cache outlives the wait: skip, never a false 0", func(t *testing.T) {
		// A 6 s cache and 5 s ticks: every other tick the fresh table would come
		// later than FreshWait (1.25 s) allows.
		rec, reps := run(t, 6*time.Second, 6*time.Second, 6)
		var kinds []string
		for _, r := range reps {
			h := r.Hypervisors[0]
			if h.Skipped != "" {
				kinds = append(kinds, "skip:"+h.Skipped)
			} else {
				kinds = append(kinds, h.Kind.String())
			}
		}
		t.Logf("rounds: %v", kinds)
		got := cpuValues(rec)
		if got["exact"] == 0 || len(got) != 1 {
			t.Errorf("values: %v, want only exact ones", got)
		}
		if !strings.Contains(strings.Join(kinds, " "), "agent_cache") {
			t.Errorf("no tick skipped: %v", kinds)
		}
	})
}

// TestBadAgents: agents that time out, answer garbage, values of the wrong type, no
// CpuTime column, a non-increasing OID, an error status or no table at all
// (noSuchObject: libvirt-snmp that lost libvirtd) are each reported (an error
// item on their host and one log line per round) while the good ones are sampled; in
// the next round the failed ones are polled after the others.
func TestBadAgents(t *testing.T) {
	faults := map[string]hypervisortest.Fault{
		"silent": hypervisortest.Silent, "garbage": hypervisortest.Garbage, "wrong-type": hypervisortest.WrongType,
		"missing-column": hypervisortest.MissingColumn, "non-increasing": hypervisortest.NonIncreasing,
		"error-status": hypervisortest.ErrorStatus, "no-table": hypervisortest.NoTable,
	}
	names := []string{"silent", "garbage", "good1", "wrong-type", "missing-column", "non-increasing", "error-status", "no-table", "good2"}
	inv, agents := fakeFleet(t, names...)
	for i := range inv.Hypervisors {
		inv.Hypervisors[i].Timeout = 300 * time.Millisecond
	}
	start := time.Now()
	for n, a := range agents {
		a.SetGuests(hypervisortest.Synthetic(5, 0))
		if f, ok := faults[n]; ok {
			a.SetFault(f)
		} else {
			a.SetSource(func() []hypervisortest.Guest { return hypervisortest.Synthetic(5, time.Since(start)) }, 0, nil)
		}
	}
	clk, err := cpuusage.NewSystemClock()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lab.SyncBuffer{}
	rec := &recorder{}
	e, err := New(Options{Inventory: inv, Log: slog.New(slog.NewTextHandler(logs, nil)), Clock: clk, Sink: rec,
		Policy: cpuusage.Policy{Interval: time.Second}, Concurrency: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var reps []Report
	for range 2 {
		reps = append(reps, e.Round(context.Background(), clk.Now()))
		time.Sleep(time.Second)
	}
	wantErr := map[string]string{
		"silent": "timeout", "garbage": "walk libvirtGuestTable of garbage", "wrong-type": "want Counter64",
		"missing-column": "column libvirtGuestCpuTime is missing", "non-increasing": "OID not increasing",
		"error-status": "error status GenErr", "no-table": "restart the subagent",
	}
	for ri, r := range reps {
		var order []string
		for _, h := range r.Hypervisors {
			order = append(order, h.Name)
			want, bad := wantErr[h.Name]
			switch {
			case bad && (h.Err == nil || !strings.Contains(h.Err.Error(), want)):
				t.Errorf("round %d: %s: err %v, want %q", ri, h.Name, h.Err, want)
			case !bad && (h.Err != nil || h.Guests != 5):
				t.Errorf("round %d: %s: err %v, %d guests", ri, h.Name, h.Err, h.Guests)
			}
		}
		if ri == 1 && (order[0] != "good1" || order[1] != "good2") {
			t.Errorf("round 2 polled %v: want the good agents first", order)
		}
	}
	for name := range wantErr {
		errs := rec.find(name, KeySenderError)
		if len(errs) != 2 || errs[0] == "" || !strings.Contains(errs[0], wantErr[name]) {
			t.Errorf("%s: %s values %q", name, KeySenderError, errs)
		}
		if n := strings.Count(logs.String(), "hypervisor="+name+" "); n != 2 {
			t.Errorf("%s: %d log lines in 2 rounds, want 2:\n%s", name, n, logs)
		}
	}
	for _, name := range []string{"good1", "good2"} {
		if errs := rec.find(name, KeySenderError); len(errs) != 2 || errs[0] != "" {
			t.Errorf("%s: %s values %q, want two empty ones", name, KeySenderError, errs)
		}
		if cpu := rec.series("vcr.guest.cpu["); len(cpu) != 10 {
			t.Errorf("CPU values %d, want 10 (5 guests of 2 good agents, second round)", len(cpu))
		}
	}
}

// TestDeadline: a hypervisor that cannot finish within the interval is cut off at the
// interval (its timeout and retries would take longer), so the round ends on time.
func TestDeadline(t *testing.T) {
	inv, agents := fakeFleet(t, "slow")
	inv.Hypervisors[0].Timeout, inv.Hypervisors[0].Retries = 10*time.Second, 3
	agents["slow"].SetFault(hypervisortest.Silent)
	clk, _ := cpuusage.NewSystemClock()
	rec := &recorder{}
	e, _ := New(Options{Inventory: inv, Log: slog.New(slog.NewTextHandler(&lab.SyncBuffer{}, nil)), Clock: clk, Sink: rec,
		Policy: cpuusage.Policy{Interval: 500 * time.Millisecond}}, nil)
	defer e.Close()
	rep := e.Round(context.Background(), clk.Now())
	if h := rep.Hypervisors[0]; h.Err == nil || !strings.Contains(h.Err.Error(), "deadline") {
		t.Fatalf("err %v, want the round's deadline", h.Err)
	}
	if rep.Duration > 5*time.Second {
		t.Fatalf("round took %v with a 500ms interval", rep.Duration)
	}
	if errs := rec.find("slow", KeySenderError); len(errs) != 1 || errs[0] == "" {
		t.Fatalf("error item %q: the timeout must be reported though the deadline passed", errs)
	}
}

// TestGuestsComeAndGo: the discovery holds every guest with its service and standby;
// it is sent at the start, when the set changes, and after DiscoveryEvery. A table
// that loses every row is an error (ErrNoTable) that keeps the last discovery.
func TestGuestsComeAndGo(t *testing.T) {
	inv, agents := fakeFleet(t, "kvm")
	gs := hypervisortest.Synthetic(3, 0)
	inv.Services = []config.Service{{Name: "shop", VMUUID: gs[1].UUID, Standby: config.ServiceStandby{Host: "standby"}}}
	clk := cpuusage.NewFakeClock(t0)
	var mu sync.Mutex
	var cur []hypervisortest.Guest
	agents["kvm"].SetSource(func() []hypervisortest.Guest {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(cur)
	}, 0, nil)
	rec := &recorder{}
	e, _ := New(Options{Inventory: inv, Log: slog.New(slog.NewTextHandler(&lab.SyncBuffer{}, nil)), Clock: clk, Sink: rec,
		Policy: cpuusage.Policy{Interval: 5 * time.Second}, DiscoveryEvery: 30 * time.Second}, nil)
	defer e.Close()
	steps := []struct {
		guests    []hypervisortest.Guest
		discovery bool
		cpu       int
	}{
		{gs[:2], true, 0},   // t=0: start
		{gs[:2], false, 2},  // unchanged
		{gs[:3], true, 2},   // guest 2 appears: no CPU % yet
		{gs[1:3], true, 2},  // t=15: guest 0 vanishes
		{gs[1:3], false, 2}, // unchanged
		{gs[1:3], false, 2},
		{gs[1:3], false, 2},
		{gs[1:3], false, 2},
		{gs[1:3], false, 2}, // t=40
		{gs[1:3], true, 2},  // t=45: 30 s since the last discovery
		{nil, false, 0},     // no rows after some: ErrNoTable, no empty discovery
		{nil, false, 0},     // and again, until rows come back
		{gs[:1], true, 0},   // back: guest 0 is new to the kept sample
		{gs[:1], false, 1},  // and sampled
	}
	for i, st := range steps {
		mu.Lock()
		cur = slices.Clone(st.guests)
		for j := range cur {
			cur[j].CPUTimeNanos = uint64(i) * 1e9
		}
		mu.Unlock()
		before := len(rec.find("kvm", zabbix.KeyGuestDiscovery))
		rep := e.Round(context.Background(), clk.Now())
		h := rep.Hypervisors[0]
		if st.guests == nil {
			if !errors.Is(h.Err, hypervisor.ErrNoTable) || h.Discovery {
				t.Errorf("step %d: no rows after %d: err %v, discovery %v; want ErrNoTable and no discovery", i, 2, h.Err, h.Discovery)
			}
			if e := rec.find("kvm", KeySenderError); len(e) == 0 || !strings.Contains(e[len(e)-1], "restart the subagent") {
				t.Errorf("step %d: %s %q: want the cause and the cure", i, KeySenderError, e)
			}
			clk.Advance(5 * time.Second)
			continue
		}
		if h.Err != nil || h.Discovery != st.discovery || h.Counts["ok"] != st.cpu {
			t.Errorf("step %d: err %v, discovery %v (want %v), counts %v (want %d ok)", i, h.Err, h.Discovery, st.discovery, h.Counts, st.cpu)
		}
		d := rec.find("kvm", zabbix.KeyGuestDiscovery)
		if st.discovery && len(d) == before+1 {
			var want []zabbix.Guest
			for _, g := range st.guests {
				row := zabbix.Guest{UUID: g.UUID.String(), Name: g.Name}
				if g.UUID == gs[1].UUID {
					row.Service, row.Standby = "shop", "standby"
				}
				want = append(want, row)
			}
			if diff := cmp.Diff(zabbix.GuestDiscovery(want), d[len(d)-1]); diff != "" {
				t.Errorf("step %d: discovery (-want +got)\n%s", i, diff)
			}
		}
		clk.Advance(5 * time.Second)
	}
}

// TestOnceOverlap: cron runs that overlap (a slow agent) never corrupt the state
// file: the later run waits for the lock, finds the earlier one's fresh sample and
// skips; the file is whole afterwards.
func TestOnceOverlap(t *testing.T) {
	inv, agents := fakeFleet(t, "kvm")
	start := time.Now()
	agents["kvm"].SetSource(func() []hypervisortest.Guest { return hypervisortest.Synthetic(50, time.Since(start)) }, 0, nil)
	agents["kvm"].SetDelay(100 * time.Millisecond)
	clk, _ := cpuusage.NewSystemClock()
	state := filepath.Join(t.TempDir(), "sender", "state.json")
	o := Options{Inventory: inv, Log: slog.New(slog.NewTextHandler(&lab.SyncBuffer{}, nil)), Clock: clk, Sink: &recorder{},
		Policy: cpuusage.Policy{Interval: 2 * time.Second}}
	var wg sync.WaitGroup
	reps := make([]Report, 4)
	errs := make([]error, 4)
	for i := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = Once(context.Background(), o, OnceOptions{StatePath: state, LockWait: 10 * time.Second})
		}()
	}
	wg.Wait()
	sampled, skipped := 0, 0
	for i, r := range reps {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		switch h := r.Hypervisors[0]; {
		case h.Skipped == "too_soon":
			skipped++
		case h.Err == nil && h.Guests == 50:
			sampled++
		default:
			t.Errorf("run %d: %+v", i, h)
		}
	}
	if sampled != 1 || skipped != 3 {
		t.Errorf("%d runs sampled, %d skipped; want 1 and 3", sampled, skipped)
	}
	st, err := LoadState(state)
	if err != nil || st.Hypervisors["kvm"].Snapshot == nil || len(st.Hypervisors["kvm"].Snapshot.Guests) != 50 {
		t.Fatalf("state after the runs: %+v, %v", st, err)
	}
}

// TestOnceBadStateFile: a state file that is not ours is replaced, with a warning.
func TestOnceBadStateFile(t *testing.T) {
	inv, agents := fakeFleet(t, "kvm")
	agents["kvm"].SetGuests(hypervisortest.Synthetic(2, 0))
	state := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(state, []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &lab.SyncBuffer{}
	clk, _ := cpuusage.NewSystemClock()
	o := Options{Inventory: inv, Log: slog.New(slog.NewTextHandler(logs, nil)), Clock: clk, Sink: &recorder{},
		Policy: cpuusage.Policy{Interval: time.Second}}
	if _, err := Once(context.Background(), o, OnceOptions{StatePath: state}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "state file unusable") {
		t.Errorf("no warning:\n%s", logs)
	}
	if st, err := LoadState(state); err != nil || len(st.Hypervisors["kvm"].Snapshot.Guests) != 2 {
		t.Fatalf("state not replaced: %+v %v", st, err)
	}
}

func TestHealthItemsRejectedOnce(t *testing.T) {
	inv, agents := fakeFleet(t, "kvm")
	agents["kvm"].SetGuests(hypervisortest.Synthetic(2, 0))
	logs := &lab.SyncBuffer{}
	clk := cpuusage.NewFakeClock(t0)
	rec := &recorder{reject: func(v zabbix.Value) bool { return strings.HasPrefix(v.Key, "vcr.sender.") }}
	e, _ := New(Options{Inventory: inv, Log: slog.New(slog.NewTextHandler(logs, nil)), Clock: clk, Sink: rec,
		Policy: cpuusage.Policy{Interval: 5 * time.Second}}, nil)
	defer e.Close()
	for range 3 {
		rep := e.Round(context.Background(), clk.Now())
		if h := rep.Hypervisors[0]; h.Err != nil || h.SendErr != nil {
			t.Fatalf("%+v", h)
		}
		clk.Advance(5 * time.Second)
	}
	if n := strings.Count(logs.String(), "add them to the hypervisor template"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs)
	}
}

func TestFormatCPU(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 100: "100", 50.5: "50.5", 33.333333333: "33.333333",
		1e-5: "0.00001", 2e-8: "0.00000002", 99.99999999: "100"} {
		if got := FormatCPU(in); got != want {
			t.Errorf("FormatCPU(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestPrintSink(t *testing.T) {
	var b bytes.Buffer
	at := time.Unix(1795319705, 0)
	_, err := NewPrintSink(&b).Send(context.Background(), []zabbix.Value{
		{Host: "kvm", Key: "vcr.guest.cpu[x]", Value: "12.5", Clock: at},
		{Host: "kvm", Key: KeySenderError, Value: "", Clock: at},
		{Host: "kvm", Key: KeySenderError, Value: `walk "x": timeout`, Clock: at},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "kvm vcr.guest.cpu[x] 1795319705 12.5\nkvm vcr.sender.error 1795319705 \"\"\nkvm vcr.sender.error 1795319705 \"walk \\\"x\\\": timeout\"\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}

func TestStateRoundTrip(t *testing.T) {
	st := NewState()
	u := hypervisortest.Synthetic(2, 0)
	st.Hypervisors["kvm"] = &HypervisorState{
		Snapshot: &cpuusage.Snapshot{At: t0, Asked: cpuusage.Reading{Mono: t0.Mono - time.Millisecond, Boot: "boot-1"}, Guests: map[libvirtmib.UUID]cpuusage.Base{
			u[0].UUID: {CPUTime: 1 << 63, VCPUs: 4}, u[1].UUID: {CPUTime: 0, VCPUs: 1}}, Sentinels: []libvirtmib.UUID{u[0].UUID}},
		DiscoveryHash: 0xdeadbeef, DiscoveryAt: t0, Failed: true}
	st.Hypervisors["empty"] = &HypervisorState{}
	b, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, back); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}

func TestDecodeStateErrors(t *testing.T) {
	tests := map[string]string{
		`{"version":2,"hypervisors":{}}`: "version 2",
		`{"version":1,"hypervisors":{"k":{"guests":{"6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01":[1,1]}}}}`:                             "without a sample time",
		`{"version":1,"hypervisors":{"k":{"at":{"mono_ns":1},"guests":{"nope":[1,1]}}}}`:                                          "uuid",
		`{"version":1,"hypervisors":{"k":{"at":{"mono_ns":1},"guests":{"6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01":[1,4294967296]}}}}`: "vCPUs",
		`{"version":1,"hypervisors":{"k":{"at":{"mono_ns":-1}}}}`:                                                                 "negative",
		`{"version":1,"hypervisors":{"k":{"at":{"mono_ns":1},"sentinels":["6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01"]}}}`:             "not a guest",
		`{"version":1,"hypervisors":{"k":{"discovery_hash":"xyz"}}}`:                                                              "discovery_hash",
		`{"version":1,"hypervisors":{"":{}}}`:                                                                                     "without a name",
		`[]`:                                                                                                                      "decode state",
	}
	for in, want := range tests {
		if _, err := DecodeState([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeState(%s) = %v, want %q", in, err, want)
		}
	}
}

// FuzzDecodeState: the state file is outside input; whatever it holds, decoding either
// fails or yields a state that encodes and decodes to itself.
func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"version":1,"hypervisors":{"kvm":{"at":{"wall":"2026-11-22T03:00:00Z","mono_ns":5,"boot":"b"},"guests":{"6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01":[10,2]},"sentinels":["6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01"],"discovery_hash":"ff","discovery_at":{"mono_ns":3}}}}`))
	f.Add([]byte(`{"version":1,"hypervisors":{}}`))
	f.Add([]byte(`{"version":1,"hypervisors":{"a":{"failed":true}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeState(b)
		if err != nil {
			return
		}
		enc, err := st.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeState(enc)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, enc)
		}
		if diff := cmp.Diff(st, back); diff != "" {
			t.Fatalf("round trip (-first +second)\n%s", diff)
		}
	})
}
