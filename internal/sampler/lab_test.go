package sampler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/cpuusage"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor/hypervisortest"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/lab/labzabbix"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// These tests sample the lab's real agent (snmpd + the libvirt-snmp stand-in over the
// libvirt LXC domains web1 and web2, table cached 5 s) and send to the lab's Zabbix
// server, into a test host whose trapper items this test creates (never into lab-kvm,
// whose template's triggers start recovery actions).

func labInventory(t testing.TB) *config.Inventory {
	t.Helper()
	inv, err := config.Load(lab.Need(t, "INVENTORY"))
	if err != nil {
		t.Fatal(err)
	}
	inv.StateDir = t.TempDir()
	return inv
}

func labOptions(t testing.TB, inv *config.Inventory, sink Sink, logs io.Writer) Options {
	t.Helper()
	clk, err := cpuusage.NewSystemClock()
	if err != nil {
		t.Fatal(err)
	}
	return Options{Inventory: inv, Log: slog.New(slog.NewTextHandler(logs, nil)), Clock: clk, Sink: sink,
		Policy: cpuusage.Policy{Interval: 5 * time.Second}, AgentCache: 5 * time.Second, SummaryLevel: slog.LevelInfo}
}

// labEngine returns an engine over inv sending to sink, closed when the test ends, and
// its log.
func labEngine(t testing.TB, inv *config.Inventory, sink Sink) (*Engine, *lab.SyncBuffer) {
	t.Helper()
	logs := &lab.SyncBuffer{}
	e, err := New(labOptions(t, inv, sink, logs), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, logs
}

// setSynthetic makes the lab agent add n generated guests (read at its next table
// refresh), and resets it to 0 at the end: other tests walk the same table.
func setSynthetic(t testing.TB, n int) {
	t.Helper()
	f := lab.Need(t, "SNMP_SYNTHETIC_FILE")
	write := func(n int) error { return os.WriteFile(f, []byte(strconv.Itoa(n)+"\n"), 0o644) }
	if err := write(n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := write(0); err != nil {
			t.Errorf("reset the synthetic guests: %v", err)
		}
	})
}

// labDomain returns a lab domain's UUID and address.
func labDomain(t *testing.T, name string) (libvirtmib.UUID, string) {
	t.Helper()
	up := strings.ToUpper(name)
	u, err := libvirtmib.ParseUUID(lab.Need(t, "DOMAIN_"+up+"_UUID"))
	if err != nil {
		t.Fatal(err)
	}
	return u, net.JoinHostPort(lab.Need(t, "DOMAIN_"+up+"_IP"), lab.Need(t, "SERVICE_PORT"))
}

func virsh(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	uri := os.Getenv("VCR_LAB_LIBVIRT_URI")
	out, err := exec.CommandContext(ctx, "virsh", append([]string{"-q", "-c", uri}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// ensureServing starts the domain if needed and waits until its HTTP service answers.
func ensureServing(t testing.TB, name, addr string) error {
	if st, _ := virsh("domstate", name); st != "running" {
		if out, err := virsh("start", name); err != nil && !strings.Contains(out, "already active") {
			return fmt.Errorf("virsh start %s: %v: %s", name, err, out)
		}
	}
	if err := lab.WaitHTTP(addr, 30*time.Second); err != nil {
		return fmt.Errorf("%s does not serve: %w", name, err)
	}
	return nil
}

// burn makes web2 keep one vCPU busy until the test ends.
func burn(t *testing.T) {
	t.Helper()
	dir := filepath.Join(lab.Need(t, "DOMAIN_WEB2_ROOTFS"), "lab")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "burn")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f) })
}

// TestLabRealAgent samples the real agent: web1 and web2 as libvirt reports them, and
// 40 generated guests whose CPU use is known exactly (guest i keeps (i%100+1) % of one
// vCPU busy and has 1+i%4 vCPUs), over 4 rounds of 5 s, against the agent's 5 s cache.
func TestLabRealAgent(t *testing.T) {
	inv := labInventory(t)
	for _, d := range []string{"web1", "web2"} {
		_, addr := labDomain(t, d)
		if err := ensureServing(t, d, addr); err != nil {
			t.Fatal(err)
		}
	}
	setSynthetic(t, 40)
	rec := &recorder{}
	e, logs := labEngine(t, inv, rec)
	// One round first, so the agent's table has the generated guests (its cache may
	// hold the table of before setSynthetic for up to 5 s): then 4 rounds.
	time.Sleep(5500 * time.Millisecond)
	var reps []Report
	for range 4 {
		now := e.o.Clock.Now()
		if err := e.o.Clock.Sleep(context.Background(), cpuusage.NextTick(now.Wall, 5*time.Second).Sub(now.Wall)); err != nil {
			t.Fatal(err)
		}
		reps = append(reps, e.Round(context.Background(), e.o.Clock.Now()))
	}
	t.Logf("log:\n%s", logs)
	for i, r := range reps {
		h := r.Hypervisors[0]
		if h.Err != nil {
			lab.Missing(t, "snmp", h.Err)
		}
		t.Logf("round %d: %s%s at +%.3fs after the tick, %d guests, %d requests, wait %.3fs walk %.3fs send %.3fs, counts %v",
			i, h.Kind, h.Skipped, h.At.Wall.Sub(r.Tick.Wall).Seconds(), h.Guests, h.Requests, h.Wait.Seconds(), h.Walk.Seconds(), h.Send.Seconds(), h.Counts)
		if h.Skipped == "" && h.Guests != 42 {
			t.Errorf("round %d: %d guests, want 42 (web1, web2, 40 generated)", i, h.Guests)
		}
		// Samples stay on the 5 s grid: at most FreshWait after their tick.
		if off := h.At.Wall.Sub(h.At.Wall.Truncate(5 * time.Second)); h.Skipped == "" && off > 1300*time.Millisecond {
			t.Errorf("round %d: sample %v after its tick", i, off)
		}
	}
	syn := hypervisortest.Synthetic(40, 0)
	exact, total, worst := 0, 0, 0.0
	for i, g := range syn {
		want := float64(i%100+1) / float64(1+i%4)
		for _, v := range rec.find("lab-kvm", zabbix.KeyGuestCPU(g.UUID.String())) {
			got, _ := strconv.ParseFloat(v, 64)
			total++
			// The agent reads its clock a fraction of a millisecond after the sender's
			// reading: 1 % is far more than that over 5 s.
			worst = max(worst, (got-want)/want, (want-got)/want)
			if d := got - want; d > want/100 || d < -want/100 {
				t.Errorf("%s: CPU %s %%, want %.4f", g.Name, v, want)
			} else {
				exact++
			}
		}
	}
	if total < 2*40 {
		t.Errorf("%d CPU values of generated guests, want at least 80 (3 rounds with a delta, one may skip)", total)
	}
	t.Logf("%d of %d generated guests' values within 1 %% of their load; worst relative error %.2g", exact, total, worst)
	for _, d := range []string{"web1", "web2"} {
		u, _ := labDomain(t, d)
		for _, v := range rec.find("lab-kvm", zabbix.KeyGuestCPU(u.String())) {
			if f, _ := strconv.ParseFloat(v, 64); f < 0 || f > 100 {
				t.Errorf("%s: CPU %s", d, v)
			}
		}
		if got := rec.find("lab-kvm", zabbix.KeyGuestStateText(u.String())); len(got) == 0 || got[len(got)-1] != "running" {
			t.Errorf("%s: state %v", d, got)
		}
		if got := rec.find("lab-kvm", zabbix.KeyGuestVCPUs(u.String())); len(got) == 0 || got[0] != "1" {
			t.Errorf("%s: vCPUs %v", d, got)
		}
	}
	d := rec.find("lab-kvm", zabbix.KeyGuestDiscovery)
	if len(d) == 0 || !strings.Contains(d[0], `"{#SERVICE}":"web1","{#STANDBY}":"standby","{#VM.NAME}":"web1"`) {
		t.Errorf("discovery %v", d)
	}
}

// labZabbix is the lab's Zabbix API and a test host holding trapper items for the
// sender's keys of web1 and web2, the discovery rule and the health items.
func labZabbix(t *testing.T) (*zabbix.API, string) {
	t.Helper()
	ctx := context.Background()
	api := labzabbix.API(t)
	// value_type: 0 float, 1 character, 3 unsigned.
	items := map[string]int{KeySenderError: lab.ValueChar, KeySenderGuests: lab.ValueUnsigned, KeySenderDuration: lab.ValueFloat,
		KeySenderVersion: lab.ValueChar}
	for _, d := range []string{"web1", "web2"} {
		u, _ := labDomain(t, d)
		s := u.String()
		items[zabbix.KeyGuestCPU(s)] = lab.ValueFloat
		items[zabbix.KeyGuestState(s)] = lab.ValueUnsigned
		items[zabbix.KeyGuestStateText(s)] = lab.ValueChar
		items[zabbix.KeyGuestVCPUs(s)] = lab.ValueUnsigned
		items[zabbix.KeyGuestMemory(s)] = lab.ValueUnsigned
	}
	host, id := lab.TrapperHost(t, api, "vcr-sender-test", items)
	if err := api.Call(ctx, "discoveryrule.create", map[string]any{"hostid": id, "name": "guests", "key_": zabbix.KeyGuestDiscovery,
		"type": 2, "lifetime": "1h"}, nil); err != nil {
		t.Fatalf("discoveryrule.create: %v", err)
	}
	lab.ReloadZabbixConfig(t)
	return api, host
}

// labHistory returns an item's stored values, oldest first, once at least min are
// stored or 20 s passed (the history syncer writes about once a second).
func labHistory(t *testing.T, api *zabbix.API, host, key string, valueType, min int) []labzabbix.Value {
	t.Helper()
	h, _ := labzabbix.WaitHistory(t, api, host, key, valueType, 20*time.Second, func(h []labzabbix.Value) bool { return len(h) >= min })
	return h
}

func labSender(t *testing.T, inv *config.Inventory) *zabbix.Sender {
	return &zabbix.Sender{Addr: inv.Zabbix.Server.String(), Timeout: inv.Zabbix.Timeout, Compress: true}
}

// TestLabBusyAndIdle: with web2 burning one vCPU in a loop, Zabbix stores high CPU
// values for web2 and values near 0 for the idle web1; the health items carry the
// sender's build.
func TestLabBusyAndIdle(t *testing.T) {
	inv := labInventory(t)
	api, host := labZabbix(t)
	inv.Hypervisors[0].ZabbixHost = host
	setSynthetic(t, 0)
	u1, addr1 := labDomain(t, "web1")
	u2, addr2 := labDomain(t, "web2")
	for d, addr := range map[string]string{"web1": addr1, "web2": addr2} {
		if err := ensureServing(t, d, addr); err != nil {
			t.Fatal(err)
		}
	}
	burn(t)
	time.Sleep(2 * time.Second) // the domain's loop looks for the file every second
	logs := &lab.SyncBuffer{}
	o := labOptions(t, inv, labSender(t, inv), logs)
	o.Version = "v9.9.9 revision 0123abcd test-build"
	e, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Run(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	t.Logf("log:\n%s", logs)
	busy := labHistory(t, api, host, zabbix.KeyGuestCPU(u2.String()), 0, 4)
	idle := labHistory(t, api, host, zabbix.KeyGuestCPU(u1.String()), 0, 4)
	t.Logf("web2 (busy) CPU %%: %v", busy)
	t.Logf("web1 (idle) CPU %%: %v", idle)
	if len(busy) < 3 || len(idle) < 3 {
		t.Fatalf("too few values in Zabbix: web2 %d, web1 %d", len(busy), len(idle))
	}
	for _, v := range busy[1:] { // the first interval may have begun before the burn
		if f, _ := strconv.ParseFloat(v.Value, 64); f < 80 || f > 100 {
			t.Errorf("web2 burning: CPU %s %%, want 80-100", v.Value)
		}
	}
	for _, v := range idle {
		if f, _ := strconv.ParseFloat(v.Value, 64); f < 0 || f > 5 {
			t.Errorf("web1 idle: CPU %s %%, want 0-5", v.Value)
		}
	}
	if errs := labHistory(t, api, host, KeySenderError, 1, 5); len(errs) < 5 || errs[0].Value != "" {
		t.Errorf("%s history %v: want empty values (no error) every round", KeySenderError, errs)
	}
	// The build rides with the health items (the template keeps only changes).
	if v := labHistory(t, api, host, KeySenderVersion, 1, 1); len(v) == 0 || v[len(v)-1].Value != o.Version {
		t.Errorf("%s history %v, want %q", KeySenderVersion, v, o.Version)
	}
	if st := labHistory(t, api, host, zabbix.KeyGuestStateText(u2.String()), 1, 1); len(st) == 0 || st[len(st)-1].Value != "running" {
		t.Errorf("web2 state text %v", st)
	}
}

// labServing returns the lab's inventory sending to a test host (labZabbix), no
// generated guests, and the domain name serving, with its UUID and address.
func labServing(t *testing.T, name string) (*config.Inventory, *zabbix.API, string, libvirtmib.UUID, string) {
	t.Helper()
	inv := labInventory(t)
	api, host := labZabbix(t)
	inv.Hypervisors[0].ZabbixHost = host
	setSynthetic(t, 0)
	u, addr := labDomain(t, name)
	if err := ensureServing(t, name, addr); err != nil {
		t.Fatal(err)
	}
	return inv, api, host, u, addr
}

// TestLabDestroyStart: `virsh destroy web2` then `virsh start web2` while the sender
// runs: its CpuTime falls to 0 and restarts from a small value, and no value stored in
// Zabbix is negative or above 100 %.
func TestLabDestroyStart(t *testing.T) {
	inv, api, host, u2, addr2 := labServing(t, "web2")
	t.Cleanup(func() {
		if err := ensureServing(t, "web2", addr2); err != nil {
			t.Errorf("restore web2: %v", err)
		}
	})
	burn(t) // a busy guest: after its restart its CpuTime grows as fast as it can
	logs := &lab.SyncBuffer{}
	rec := &recorder{}
	o := labOptions(t, inv, Tee{labSender(t, inv), rec}, logs)
	e, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx, 0) }()

	time.Sleep(12 * time.Second)
	if out, err := virsh("destroy", "web2"); err != nil {
		t.Fatalf("virsh destroy web2: %v: %s", err, out)
	}
	time.Sleep(8 * time.Second) // the agent's table shows it shut off within 5 s
	if out, err := virsh("start", "web2"); err != nil {
		t.Fatalf("virsh start web2: %v: %s", err, out)
	}
	time.Sleep(17 * time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("log:\n%s", logs)

	cpu := labHistory(t, api, host, zabbix.KeyGuestCPU(u2.String()), 0, 4)
	states := labHistory(t, api, host, zabbix.KeyGuestState(u2.String()), 3, 6)
	t.Logf("web2 CPU %% in Zabbix: %v", cpu)
	t.Logf("web2 state in Zabbix: %v", states)
	for _, v := range cpu {
		if f, err := strconv.ParseFloat(v.Value, 64); err != nil || f < 0 || f > 100 {
			t.Errorf("web2 CPU %q %%: want 0-100", v.Value)
		}
	}
	var seq []string
	for _, s := range states {
		if len(seq) == 0 || seq[len(seq)-1] != s.Value {
			seq = append(seq, s.Value)
		}
	}
	if strings.Join(seq, " ") != "1 5 1" {
		t.Errorf("web2 states %v, want running, shutoff, running", seq)
	}
	local := rec.find(host, zabbix.KeyGuestCPU(u2.String()))
	if len(local) < 4 {
		t.Errorf("only %d CPU values for web2", len(local))
	}
	if !strings.Contains(logs.String(), "cpu_time_reset=1") {
		t.Errorf("no CpuTime reset logged")
	}
}
