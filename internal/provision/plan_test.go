package provision

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// testInventory has two hypervisors, two services on two standbys.
func testInventory() *config.Inventory {
	return &config.Inventory{
		Hypervisors: []config.Hypervisor{{Name: "kvm1", ZabbixHost: "kvm1"}, {Name: "kvm2", ZabbixHost: "zbx-kvm2"}},
		Standbys:    []config.Standby{{Name: "standby", ZabbixHost: "standby"}, {Name: "big", ZabbixHost: "big-vm"}},
		Services: []config.Service{
			{Name: "web1", ZabbixHost: "web1", PrimaryAddress: netip.MustParseAddr("10.77.1.11"), Standby: config.ServiceStandby{Host: "standby"}},
			{Name: "db1", ZabbixHost: "db1-vm", PrimaryAddress: netip.MustParseAddr("10.77.1.12"), Standby: config.ServiceStandby{Host: "standby"}},
		},
	}
}

// summary renders a host spec on one line for comparisons.
func summary(h *hostSpec) string {
	var tags []string
	for _, t := range h.Tags {
		tags = append(tags, t.Tag+"="+t.Value)
	}
	agent := "-"
	if h.Agent != nil {
		agent = fmt.Sprintf("%s useip=%d", addrOf(*h.Agent), h.Agent.UseIP)
	}
	if h.AgentGiven {
		agent += " given"
	}
	return fmt.Sprintf("%s | %s | groups %s | templates %s | agent %s | tags %s | external %v",
		h.Name, h.Role, strings.Join(h.Groups, ","), strings.Join(h.Templates, ","), agent, strings.Join(tags, ","), h.External)
}

func TestPlan(t *testing.T) {
	p, err := newPlan(testInventory(), Options{StandbyAgents: map[string]string{"standby": "127.0.0.1:20050"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range p.Hosts {
		got = append(got, summary(h))
	}
	want := []string{
		"kvm1 | hypervisor kvm1 | groups vcrcovery hypervisors | templates vcrcovery hypervisor | agent - | tags vcr.role=hypervisor,vcr.inventory=vcrcovery | external false",
		"zbx-kvm2 | hypervisor kvm2 | groups vcrcovery hypervisors | templates vcrcovery hypervisor | agent - | tags vcr.role=hypervisor,vcr.inventory=vcrcovery | external false",
		"web1 | VM of service web1 | groups vcrcovery VMs | templates  | agent 10.77.1.11:10050 useip=1 | tags vcr.role=vm,vcr.service=web1,vcr.inventory=vcrcovery | external false",
		"db1-vm | VM of service db1 | groups vcrcovery VMs | templates  | agent 10.77.1.12:10050 useip=1 | tags vcr.role=vm,vcr.service=db1,vcr.inventory=vcrcovery | external false",
		"standby | standby standby and trapd host and group checks host | groups vcrcovery standbys | templates vcrcovery standby,vcrcovery trapd,vcrcovery cloud | agent 127.0.0.1:20050 useip=1 given | tags vcr.role=standby,vcr.standby=standby,vcr.inventory=vcrcovery | external false",
		"big-vm | standby big | groups vcrcovery standbys | templates vcrcovery standby | agent big-vm:10050 useip=0 | tags vcr.role=standby,vcr.standby=big,vcr.inventory=vcrcovery | external false",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hosts (-want +got)\n%s", diff)
	}
	wantActions := []actionSpec{
		{Name: "vcrcovery recover on standby", Standby: "standby", Host: "standby", Tag: "recover", Script: "vcrcovery recover"},
		{Name: "vcrcovery migrate on standby", Standby: "standby", Host: "standby", Tag: "migrate", Script: "vcrcovery migrate auto"},
		{Name: "vcrcovery recover on big", Standby: "big", Host: "big-vm", Tag: "recover", Script: "vcrcovery recover"},
		{Name: "vcrcovery migrate on big", Standby: "big", Host: "big-vm", Tag: "migrate", Script: "vcrcovery migrate auto"},
	}
	if diff := cmp.Diff(wantActions, p.Actions); diff != "" {
		t.Errorf("actions (-want +got)\n%s", diff)
	}
	wantDisc := map[string][]string{"standby": {"web1", "db1"}, "big-vm": nil}
	if diff := cmp.Diff(wantDisc, p.Discovery); diff != "" {
		t.Errorf("discovery (-want +got)\n%s", diff)
	}
	if want := `'/usr/local/bin/vcr-zabbix-recover' '{EVENT.TAGS.service}' '{EVENT.ID}' '{TRIGGER.ID}'`; p.Script.Command != want {
		t.Errorf("command = %s, want %s", p.Script.Command, want)
	}
	if want := `'/usr/local/bin/vcr-zabbix-migrate' '{EVENT.ID}'`; p.MigrateScript.Command != want {
		t.Errorf("migrate command = %s, want %s", p.MigrateScript.Command, want)
	}
	for _, s := range []zabbix.Script{p.Script, p.MigrateScript} {
		if s.Scope != zabbix.ScriptScopeAction || s.ExecuteOn != zabbix.ScriptOnAgent {
			t.Errorf("script %+v: want scope action, executed on the agent", s)
		}
	}
	if p.Script.Name != "vcrcovery recover" || p.MigrateScript.Name != "vcrcovery migrate auto" {
		t.Errorf("script names %q, %q", p.Script.Name, p.MigrateScript.Name)
	}
	var names []string
	for _, tpl := range p.Templates {
		names = append(names, tpl.Name)
	}
	if diff := cmp.Diff([]string{"vcrcovery cloud", "vcrcovery hypervisor", "vcrcovery pooled service", "vcrcovery standby", "vcrcovery trapd"}, names); diff != "" {
		t.Errorf("templates (-want +got)\n%s", diff)
	}
}

// TestPlanPooled: a pooled service gets a trapper-only host (no agent: the service
// moves between pool hosts) with the pooled template, in its own group.
func TestPlanPooled(t *testing.T) {
	inv := testInventory()
	inv.Pooled = []config.PooledService{{Name: "p1", ZabbixHost: "p1"}}
	p, err := newPlan(inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, h := range p.Hosts {
		if h.Name == "p1" {
			got = summary(h)
		}
	}
	if want := "p1 | pooled service p1 | groups vcrcovery pooled services | templates vcrcovery pooled service | agent - | tags vcr.role=pooled,vcr.service=p1,vcr.inventory=vcrcovery | external false"; got != want {
		t.Errorf("pooled host:\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(strings.Join(p.Groups, ","), "vcrcovery pooled services") {
		t.Errorf("groups %v lack %s", p.Groups, "vcrcovery pooled services")
	}
	if plain, _ := newPlan(testInventory(), Options{}); strings.Contains(strings.Join(plain.Groups, ","), "vcrcovery pooled services") {
		t.Errorf("an inventory without pooled services gets the group %s", "vcrcovery pooled services")
	}
}

func TestPlanExternalHosts(t *testing.T) {
	p, err := newPlan(testInventory(), Options{TrapdHost: "monitor", CloudHost: "big-vm"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, h := range p.Hosts {
		got[h.Name] = summary(h)
	}
	if want := "monitor | trapd host | groups  | templates vcrcovery trapd | agent - | tags  | external true"; got["monitor"] != want {
		t.Errorf("trapd host:\n got %s\nwant %s", got["monitor"], want)
	}
	if !strings.Contains(got["big-vm"], "templates vcrcovery standby,vcrcovery cloud") || strings.Contains(got["big-vm"], "external true") {
		t.Errorf("cloud host on a standby: %s", got["big-vm"])
	}
	if strings.Contains(got["standby"], "trapd") {
		t.Errorf("standby got the trapd template although -trapd-host names another: %s", got["standby"])
	}
}

func TestPlanErrors(t *testing.T) {
	noStandbys := testInventory()
	noStandbys.Standbys, noStandbys.Services = nil, nil
	clash := testInventory()
	clash.Standbys[1].ZabbixHost = "standby"
	tests := []struct {
		name string
		inv  *config.Inventory
		opts Options
		want string
	}{
		{"unknown standby", testInventory(), Options{StandbyAgents: map[string]string{"nope": "1.2.3.4:10050"}},
			"-standby-agent nope: no standby of that name in the inventory (have: big, standby)"},
		{"no port", testInventory(), Options{StandbyAgents: map[string]string{"big": "10.0.0.1"}},
			`-standby-agent big: agent address "10.0.0.1": want host:port`},
		{"bad port", testInventory(), Options{StandbyAgents: map[string]string{"big": "10.0.0.1:0"}},
			`-standby-agent big: agent address "10.0.0.1:0": port must be 1-65535`},
		{"bad host", testInventory(), Options{StandbyAgents: map[string]string{"big": "a b:10050"}},
			`-standby-agent big: agent address "a b:10050": host must be an IP address or a DNS name`},
		{"relative command", testInventory(), Options{RecoverCommand: "vcr-zabbix-recover"},
			`-recover-command "vcr-zabbix-recover": want an absolute path`},
		{"relative migrate command", testInventory(), Options{MigrateCommand: "bin/vcr-zabbix-migrate"},
			`-migrate-command "bin/vcr-zabbix-migrate": want an absolute path`},
		{"no standby for the trapd host", noStandbys, Options{},
			"-trapd-host: the inventory has no standbys to default to: name a Zabbix host"},
		{"one host, two agents", clash, Options{StandbyAgents: map[string]string{"standby": "127.0.0.1:20050"}},
			"zabbix host standby is standby standby (agent 127.0.0.1:20050) and standby big (agent standby:10050): one host has one agent address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.inv, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrOptions) {
				t.Errorf("err = %v, want ErrOptions", err)
			}
		})
	}
}

func TestRecoverCommandQuoting(t *testing.T) {
	got := recoverCommand("/opt/it's here/vcr-zabbix-recover")
	want := `'/opt/it'\''s here/vcr-zabbix-recover' '{EVENT.TAGS.service}' '{EVENT.ID}' '{TRIGGER.ID}'`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	got = migrateCommand("/opt/it's here/vcr-zabbix-migrate")
	want = `'/opt/it'\''s here/vcr-zabbix-migrate' '{EVENT.ID}'`
	if got != want {
		t.Fatalf("migrate: got  %s\nwant %s", got, want)
	}
}

// TestWantAction: each action runs its own script on its standby's host, for problems
// with its own vcrcovery tag on that standby, not suppressed; so the recover and the
// migrate action of one standby differ, and a change of script shows in the shape.
func TestWantAction(t *testing.T) {
	p, err := newPlan(testInventory(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{plan: p, hostIDs: map[string]string{"standby": "10", "big-vm": "11"},
		scriptIDs: map[string]string{"vcrcovery recover": "1", "vcrcovery migrate auto": "2"}}
	got := map[string]string{}
	for _, spec := range p.Actions {
		a := r.wantAction(spec)
		if a.Name != spec.Name || a.Status != zabbix.ActionEnabled {
			t.Errorf("action %+v from %+v", a, spec)
		}
		got[spec.Name] = actionShape(a)
	}
	cond := func(tag, standby string) string {
		return fmt.Sprintf(`%d/%d/""/"" %d/%d/"standby"/%q %d/%d/"vcr.inventory"/"vcrcovery" %d/%d/"vcrcovery"/%q`, zabbix.CondSuppressed, zabbix.CondOpNo,
			zabbix.CondEventTagValue, zabbix.CondOpEqual, standby, zabbix.CondEventTagValue, zabbix.CondOpEqual,
			zabbix.CondEventTagValue, zabbix.CondOpEqual, tag)
	}
	shape := func(tag, standby, script, host string) string {
		return fmt.Sprintf("source %d; eval %d; conditions %s; operations %d/script %s/hosts %s",
			zabbix.EventSourceTrigger, zabbix.EvalAnd, cond(tag, standby), zabbix.OperationRemoteShell, script, host)
	}
	want := map[string]string{
		"vcrcovery recover on standby": shape("recover", "standby", "1", "10"),
		"vcrcovery migrate on standby": shape("migrate", "standby", "2", "10"),
		"vcrcovery recover on big":     shape("recover", "big", "1", "11"),
		"vcrcovery migrate on big":     shape("migrate", "big", "2", "11"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("action shapes (-want +got)\n%s", diff)
	}
}

// TestDescribeDiff uses a real configuration.importcompare answer (Zabbix 6.0.14) in
// which the template and its discovery rule are listed as updated only because
// children changed: 11 item prototypes (history) and 1 trigger prototype (tags).
func TestDescribeDiff(t *testing.T) {
	raw, err := os.ReadFile("testdata/importcompare.json")
	if err != nil {
		t.Fatal(err)
	}
	got := describeDiff(json.RawMessage(raw))
	if want := "item prototypes: 11 updated; trigger prototypes: 1 updated"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := describeDiff(json.RawMessage(`{"templates":{"added":[{"after":{"template":"x"}}]}}`)); got != "templates: 1 added" {
		t.Fatalf("added template: %q", got)
	}
}

func TestReportWrite(t *testing.T) {
	r := &Report{}
	r.add(Unchanged, "template", "vcrcovery hypervisor", "")
	r.add(Sent, "discovery", "vcr.service.discovery on standby", "services web1")
	var b bytes.Buffer
	r.Write(&b)
	want := "unchanged template   vcrcovery hypervisor\n" +
		"sent      discovery  vcr.service.discovery on standby: services web1\n" +
		"nothing to change: 1 unchanged\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}

	r = &Report{DryRun: true}
	r.add(Created, "host", "web1", "VM of service web1")
	r.add(Unchanged, "host", "web2", "")
	b.Reset()
	r.Write(&b)
	want = "would be created host       web1: VM of service web1\n" +
		"unchanged        host       web2\n" +
		"1 would be created, 0 would be updated, 1 unchanged\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("dry run (-want +got)\n%s", diff)
	}

	r = &Report{DryRun: true}
	r.add(Deleted, "action", "vcrcovery recover on big", "the recover action of standby big, which the inventory no longer has")
	b.Reset()
	r.Write(&b)
	want = "would be deleted action     vcrcovery recover on big: the recover action of standby big, which the inventory no longer has\n" +
		"0 would be created, 0 would be updated, 0 unchanged, 1 would be deleted\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("dry run prune (-want +got)\n%s", diff)
	}
}

// TestPlanFastPathScripts: one manual host script per fast_path service, running the
// wrapper with the service and the fast-path marker, each a quoted word.
func TestPlanFastPathScripts(t *testing.T) {
	inv := testInventory()
	inv.Services[1].FastPath = true
	p, err := newPlan(inv, Options{RecoverCommand: "/opt/vcr/zabbix-recover"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.FastPath) != 1 {
		t.Fatalf("%d fast-path scripts, want 1", len(p.FastPath))
	}
	s := p.FastPath[0]
	if s.Name != "vcrcovery recover db1" || s.Command != "'/opt/vcr/zabbix-recover' 'db1' fast-path" || s.Scope != zabbix.ScriptScopeHost {
		t.Fatalf("%+v", s)
	}
}

// TestPlanPrefix: with zabbix.prefix every object provisioning owns is named after it
// (only the shared templates keep "vcrcovery"), and every host is tagged with it.
func TestPlanPrefix(t *testing.T) {
	inv := testInventory()
	inv.Zabbix.Prefix = "team-b"
	inv.Services[0].FastPath = true
	p, err := newPlan(inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := append([]string(nil), p.Groups...)
	got = append(got, p.Script.Name, p.MigrateScript.Name)
	for _, s := range p.FastPath {
		got = append(got, s.Name)
	}
	for _, a := range p.Actions {
		got = append(got, a.Name+" runs "+a.Script)
	}
	want := []string{"team-b hypervisors", "team-b VMs", "team-b standbys", "team-b recover", "team-b migrate auto",
		"team-b recover web1",
		"team-b recover on standby runs team-b recover", "team-b migrate on standby runs team-b migrate auto",
		"team-b recover on big runs team-b recover", "team-b migrate on big runs team-b migrate auto"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got)\n%s", diff)
	}
	for _, h := range p.Hosts {
		if !containsTag(h.Tags, zabbix.Tag{Tag: TagInventory, Value: "team-b"}) {
			t.Errorf("host %s: tags %v lack %s=team-b", h.Name, h.Tags, TagInventory)
		}
	}
	// The cloud template's group checks (on the first standby's host) watch team-b's groups.
	wantMacros := []zabbix.Macro{{Macro: MacroGroupStandbys, Value: "team-b standbys"}, {Macro: MacroGroupVMs, Value: "team-b VMs"}}
	for _, h := range p.Hosts {
		if h.Name == "standby" {
			if diff := cmp.Diff(wantMacros, h.Macros); diff != "" {
				t.Errorf("cloud host macros (-want +got)\n%s", diff)
			}
		}
	}
	r := &runner{plan: p}
	if a := r.wantAction(p.Actions[0]); !strings.Contains(actionShape(a), `"vcr.inventory"/"team-b"`) {
		t.Errorf("action %s does not require the inventory's tag: %s", a.Name, actionShape(a))
	}
}

func TestOwnWord(t *testing.T) {
	tests := []struct {
		name, prefix, want string
		ok                 bool
	}{
		{"vcrcovery recover on standby", "vcrcovery recover on ", "standby", true},
		{"vcrcovery recover on ", "vcrcovery recover on ", "", false},
		{"vcrcovery recover on a b", "vcrcovery recover on ", "a b", false},
		{"vcrcovery-b recover on standby", "vcrcovery recover on ", "", false},
	}
	for _, tc := range tests {
		got, ok := ownWord(tc.name, tc.prefix)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("ownWord(%q, %q) = %q, %v; want %q, %v", tc.name, tc.prefix, got, ok, tc.want, tc.ok)
		}
	}
}
