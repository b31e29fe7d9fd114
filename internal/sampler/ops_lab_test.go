package sampler

// Lab tests of vcr-sender against failures: an agent that lost libvirt, SNMPv3 walks,
// the trapper unreachable.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/lab/labsnmp"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
	templates "github.com/vcrcovery/vcrcovery/zabbix-templates"
)

// templateTrigger returns the expression of the hypervisor template's trigger on key,
// with the template's name replaced by host: the test host gets the template's own
// trigger without the template's guest prototypes, whose triggers start recoveries.
func templateTrigger(t *testing.T, key, host string) string {
	t.Helper()
	all, err := templates.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range all {
		if tp.Name != templates.Hypervisor {
			continue
		}
		var doc struct {
			Export struct {
				Templates []struct {
					Items []struct {
						Key      string `yaml:"key"`
						Triggers []struct {
							Expression string `yaml:"expression"`
						} `yaml:"triggers"`
					} `yaml:"items"`
				} `yaml:"templates"`
			} `yaml:"zabbix_export"`
		}
		if err := yaml.Unmarshal(tp.Source, &doc); err != nil {
			t.Fatal(err)
		}
		for _, it := range doc.Export.Templates[0].Items {
			if it.Key == key && len(it.Triggers) > 0 {
				return strings.ReplaceAll(it.Triggers[0].Expression, "/"+tp.Name+"/", "/"+host+"/")
			}
		}
	}
	t.Fatalf("template %s has no trigger on %s", templates.Hypervisor, key)
	return ""
}

// triggerValue returns a trigger's value (0 OK, 1 problem) as the server evaluated it.
func triggerValue(t *testing.T, api *zabbix.API, id string) string {
	t.Helper()
	var got []struct {
		Value string `json:"value"`
	}
	if err := api.Call(context.Background(), "trigger.get", map[string]any{"triggerids": id, "output": []string{"value"}}, &got); err != nil || len(got) != 1 {
		t.Fatalf("trigger.get %s: %v %v", id, got, err)
	}
	return got[0].Value
}

// TestLabAgentLostLibvirt: the lab agent imitates libvirt-snmp after a libvirtd
// restart (no rows until it is restarted). vcr-sender then reports the hypervisor in
// vcr.sender.error with the cause and the cure, the template's trigger fires, no
// discovery is sent (Zabbix keeps every guest's items), and after the cure (the agent
// restarted) the guests are sampled again and the trigger resolves.
func TestLabAgentLostLibvirt(t *testing.T) {
	inv := labInventory(t)
	api, host := labZabbix(t)
	var ids struct {
		TriggerIDs []string `json:"triggerids"`
	}
	if err := api.Call(context.Background(), "trigger.create", map[string]any{
		"description": "vcr-sender cannot sample the VMs of hypervisor {HOST.NAME}",
		"expression":  templateTrigger(t, KeySenderError, host)}, &ids); err != nil || len(ids.TriggerIDs) != 1 {
		t.Fatalf("trigger.create: %v %v", ids, err)
	}
	lab.ReloadZabbixConfig(t)
	lost := filepath.Join(t.TempDir(), "libvirt-lost")
	agent := lab.StartAgent(t, lab.AgentOptions{LostFile: lost})
	hp, err := config.ParseHostPort(agent.Addr)
	if err != nil {
		t.Fatal(err)
	}
	inv.Hypervisors[0].Address, inv.Hypervisors[0].ZabbixHost = hp, host
	rec := &recorder{}
	e, logs := labEngine(t, inv, Tee{rec, labSender(t, inv)})
	defer func() {
		if t.Failed() {
			t.Logf("sender log:\n%s\nagent log:\n%s", logs, agent.Log())
		}
	}()
	ctx := context.Background()
	lastErr := func() string {
		v := rec.find(host, KeySenderError)
		if len(v) == 0 {
			return "<none>"
		}
		return v[len(v)-1]
	}
	if err := e.Run(ctx, 2); err != nil {
		t.Fatal(err)
	}
	discoveries := rec.find(host, zabbix.KeyGuestDiscovery)
	if lastErr() != "" || len(discoveries) != 1 {
		t.Fatalf("healthy agent: error %q, %d discoveries; want none and 1", lastErr(), len(discoveries))
	}

	// libvirtd "restarts": the agent loses it at its next table refresh (cache 5 s).
	if err := os.WriteFile(lost, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.Run(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if msg := lastErr(); !strings.Contains(msg, "no libvirtGuestTable") || !strings.Contains(msg, "restart the subagent") {
		t.Fatalf("lost libvirt: %s %q; want the cause and the cure", KeySenderError, msg)
	}
	if d := rec.find(host, zabbix.KeyGuestDiscovery); len(d) != len(discoveries) {
		t.Fatalf("lost libvirt: discoveries %q sent; want none (the last one stays)", d[len(discoveries):])
	}
	lab.Until(t, "the template's trigger fires", 30*time.Second, func() error {
		if v := triggerValue(t, api, ids.TriggerIDs[0]); v != "1" {
			return fmt.Errorf("trigger value %s", v)
		}
		return nil
	})

	// The cure: restart the agent (removing the file alone would not do: the loss
	// lasts for the agent process's life, as the real agent never reconnects).
	os.Remove(lost)
	agent.Restart()
	if err := e.Run(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if msg := lastErr(); msg != "" {
		t.Fatalf("agent restarted: %s %q, want empty", KeySenderError, msg)
	}
	if g := rec.find(host, KeySenderGuests); g[len(g)-1] != "2" {
		t.Fatalf("agent restarted: guests %q, want 2", g)
	}
	lab.Until(t, "the trigger resolves", 30*time.Second, func() error {
		if v := triggerValue(t, api, ids.TriggerIDs[0]); v != "0" {
			return fmt.Errorf("trigger value %s", v)
		}
		return nil
	})
}

// TestLabSampleOverV3: vcr-sender samples the lab's guests over SNMPv3 (authPriv, SHA
// and AES) from a test snmpd serving the same libvirt, with CPU % from the second
// sample on.
func TestLabSampleOverV3(t *testing.T) {
	inv := labInventory(t)
	a := lab.StartAgent(t, lab.AgentOptions{V3User: "vcrsender"})
	if err := labsnmp.UseV3(inv, a); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	e, logs := labEngine(t, inv, rec)
	if err := e.Run(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	host := inv.Hypervisors[0].ZabbixHost
	errs, guests := rec.find(host, KeySenderError), rec.find(host, KeySenderGuests)
	if len(errs) != 2 || errs[1] != "" || len(guests) != 2 || guests[1] != "2" {
		t.Fatalf("over v3: errors %q, guests %q; want 2 rounds without error, 2 guests\n%s\n%s", errs, guests, logs, a.Log())
	}
	if cpu := rec.series("vcr.guest.cpu["); len(cpu) != 2 {
		t.Fatalf("over v3: CPU values %q, want one per guest from the second sample", cpu)
	}
}

// TestLabSpoolWhileZabbixDown: with the trapper unreachable for 3 rounds (the lab's
// TCP proxy in front of it goes down), vcr-sender spools what it measured and replays
// it when the trapper answers again: Zabbix then holds web1's CPU % of every round
// from the second on, each with the clock of its own sample, in order.
func TestLabSpoolWhileZabbixDown(t *testing.T) {
	inv, api, host, u1, _ := labServing(t, "web1")
	px := lab.StartProxy(t, inv.Zabbix.Server.String())
	sp, closeSpool, err := OpenSpool(context.Background(), filepath.Join(t.TempDir(), "spool"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSpool()
	rec := &recorder{} // what was measured, with its clocks
	logs := &lab.SyncBuffer{}
	spooled := &Spooled{Next: &zabbix.Sender{Addr: px.Addr, Timeout: 2 * time.Second}, Spool: sp, Log: slog.New(slog.NewTextHandler(logs, nil))}
	e, elog := labEngine(t, inv, Tee{rec, spooled})
	ctx := context.Background()
	key := zabbix.KeyGuestCPU(u1.String())
	if err := e.Run(ctx, 2); err != nil {
		t.Fatal(err)
	}
	px.Down()
	if err := e.Run(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if n := sp.Values(); n == 0 {
		t.Fatalf("trapper down for 3 rounds: nothing spooled\n%s\n%s", logs, elog)
	}
	px.Up(t)
	if err := e.Run(ctx, 2); err != nil {
		t.Fatal(err)
	}
	var want []int64
	rec.mu.Lock()
	for _, v := range rec.values {
		if v.Host == host && v.Key == key {
			want = append(want, v.Clock.Unix())
		}
	}
	rec.mu.Unlock()
	if len(want) != 6 {
		t.Fatalf("measured %d CPU values of web1 in 7 rounds, want 6", len(want))
	}
	h := labHistory(t, api, host, key, lab.ValueFloat, len(want))
	var got []int64
	for _, v := range h {
		got = append(got, v.Clock)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("clocks of web1's CPU %% in Zabbix (-measured +stored): a hole or a changed clock\n%s\n%s", diff, logs)
	}
	var order []int64
	for _, v := range px.Forwarded(host, key) {
		order = append(order, v.Clock)
	}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("order of web1's CPU %% through the proxy (-measured +forwarded)\n%s", diff)
	}
	if n := sp.Values(); n != 0 {
		t.Errorf("%d values still spooled after the trapper came back", n)
	}
}
