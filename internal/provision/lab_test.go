package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
	templates "github.com/vcrcovery/vcrcovery/zabbix-templates"
)

// Integration tests on the lab's real Zabbix 6.0 (scripts/lab): the templates import,
// provisioning is idempotent, and the whole chain works: discovery creates a guest's
// items, a "shutoff" value opens a problem, and the action runs the configured command
// on the lab's agent (the standby VM's) with the problem's service and event ID.
//
// They provision the lab's inventory for real (hosts lab-kvm, web1, web2, standby, big)
// and leave it provisioned with the default recover command, as an operator would.

// testVM is the UUID of a guest that exists only in these tests ("7e57" for test).
const testVM = "7e570000-0000-4000-8000-000000000001"

// waitTimeout bounds each wait for the server: LLD, history syncer (1 s), escalator (3 s).
const waitTimeout = 30 * time.Second

func labInventory(t *testing.T) *config.Inventory {
	t.Helper()
	inv, err := config.Load(lab.Need(t, "INVENTORY"))
	if err != nil {
		t.Fatalf("lab inventory: %v", err)
	}
	return inv
}

func labAPI(t *testing.T, inv *config.Inventory) *zabbix.API {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	api, err := Connect(ctx, inv.Zabbix)
	if err != nil {
		lab.Missing(t, "zabbix-api", err)
	}
	return api
}

// labOptions points every standby of the lab inventory at the lab's one agent (host
// "standby"), so that each standby host is reachable and runs remote commands.
func labOptions(t *testing.T, inv *config.Inventory, recoverCommand string) Options {
	t.Helper()
	agent := lab.Need(t, "ZABBIX_AGENT")
	o := Options{
		RecoverCommand: recoverCommand,
		StandbyAgents:  map[string]string{},
		Sender:         &zabbix.Sender{Addr: inv.Zabbix.Server.String(), Timeout: inv.Zabbix.Timeout},
	}
	for _, sb := range inv.Standbys {
		o.StandbyAgents[sb.Name] = agent
	}
	return o
}

// provisionLab runs provisioning and fails the test on an error.
func provisionLab(t *testing.T, api *zabbix.API, inv *config.Inventory, o Options) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, api, inv, o)
	if err != nil {
		var b bytes.Buffer
		rep.Write(&b)
		t.Fatalf("provision: %v\n%s", err, b.String())
	}
	return rep
}

// waitFor polls cond until it returns true, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s (last error: %v)", waitTimeout, what, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestLabTemplatesImport: every template file imports without error, and the files are
// in the form the server exports (else importcompare would always see changes and
// provisioning would never be idempotent).
func TestLabTemplatesImport(t *testing.T) {
	inv := labInventory(t)
	api := labAPI(t, inv)
	all, err := templates.All()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tpl := range all {
		if err := api.Import(ctx, "yaml", string(tpl.Source), importRules); err != nil {
			t.Errorf("import %s: %v", tpl.File, err)
			continue
		}
		diff, err := api.ImportCompare(ctx, "yaml", string(tpl.Source), importRules)
		if err != nil {
			t.Errorf("importcompare %s: %v", tpl.File, err)
		} else if diff != nil {
			t.Errorf("%s differs from the server's export right after its import (%s): keep the file in the export's form", tpl.File, describeDiff(diff))
		}
	}
}

// TestLabRecoverAction is the whole chain on the real server.
func TestLabRecoverAction(t *testing.T) {
	inv := labInventory(t)
	api := labAPI(t, inv)
	ctx := context.Background()
	svc := &inv.Services[0]
	hyp, ok := inv.Hypervisor(svc.Hypervisor)
	if !ok {
		t.Fatalf("lab inventory: service %s has no hypervisor %s", svc.Name, svc.Hypervisor)
	}

	// The recover command of this test appends its arguments to a file the agent can
	// write (it runs as root in the lab; the folders are opened up anyway).
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "calls")
	if err := os.WriteFile(out, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(out, 0o666) // past the umask
	cmd := filepath.Join(dir, "recover")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s %%s %%s\\n' \"$1\" \"$2\" \"$3\" >> %s\n", out)
	if err := os.WriteFile(cmd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	// Leave the lab provisioned as an operator would have it, and the test VM running.
	sender := &zabbix.Sender{Addr: inv.Zabbix.Server.String(), Timeout: inv.Zabbix.Timeout}
	t.Cleanup(func() {
		sender.Send(context.Background(), []zabbix.Value{{Host: hyp.ZabbixHost, Key: zabbix.KeyGuestState(testVM), Value: "1"}})
		if _, err := Run(context.Background(), api, inv, labOptions(t, inv, DefaultRecoverCommand)); err != nil {
			t.Errorf("restore the default provisioning: %v", err)
		}
		lab.ReloadZabbixConfig(t)
	})

	opts := labOptions(t, inv, cmd)
	provisionLab(t, api, inv, opts)
	lab.ReloadZabbixConfig(t)

	t.Run("idempotent", func(t *testing.T) {
		rep := provisionLab(t, api, inv, opts)
		var b bytes.Buffer
		rep.Write(&b)
		if rep.Changed() {
			t.Fatalf("second run changed something:\n%s", b.String())
		}
		if !strings.Contains(b.String(), "nothing to change") {
			t.Errorf("second run does not say it changed nothing:\n%s", b.String())
		}
		// The standby hosts existed at the last configuration cache reload: their
		// discovery is accepted now.
		if n := rep.Count(Sent); n != len(inv.Standbys) || rep.Count(Pending) != 0 {
			t.Errorf("discovery sent to %d standbys (%d pending), want %d:\n%s", n, rep.Count(Pending), len(inv.Standbys), b.String())
		}
	})

	// The migrate script and one migrate action per standby exist as planned: the action
	// runs that script for problems tagged vcrcovery=migrate on its standby.
	t.Run("migrate action", func(t *testing.T) {
		migrateScript := NamesFor(inv).MigrateScript()
		scripts, err := api.ScriptsByName(ctx, migrateScript)
		if err != nil || len(scripts) != 1 {
			t.Fatalf("global script %s: %v %v", migrateScript, scripts, err)
		}
		if want := migrateCommand(DefaultMigrateCommand); scripts[0].Command != want {
			t.Errorf("script %s runs %q, want %q", migrateScript, scripts[0].Command, want)
		}
		if scripts[0].Scope != zabbix.ScriptScopeAction || scripts[0].ExecuteOn != zabbix.ScriptOnAgent {
			t.Errorf("script %+v: want scope action, executed on the agent", scripts[0])
		}
		for _, sb := range inv.Standbys {
			name := NamesFor(inv).MigrateAction(sb.Name)
			actions, err := api.ActionsByName(ctx, name)
			if err != nil || len(actions) != 1 {
				t.Fatalf("action %s: %v %v", name, actions, err)
			}
			a := actions[0]
			for _, want := range []zabbix.Condition{
				{ConditionType: zabbix.CondEventTagValue, Operator: zabbix.CondOpEqual, Value2: "vcrcovery", Value: "migrate"},
				{ConditionType: zabbix.CondEventTagValue, Operator: zabbix.CondOpEqual, Value2: "standby", Value: sb.Name},
			} {
				found := false
				for _, c := range a.Filter.Conditions {
					found = found || c.ConditionType == want.ConditionType && c.Operator == want.Operator && c.Value2 == want.Value2 && c.Value == want.Value
				}
				if !found {
					t.Errorf("action %s: conditions %+v lack %s=%s", name, a.Filter.Conditions, want.Value2, want.Value)
				}
			}
			if len(a.Operations) != 1 || a.Operations[0].OpCommand.ScriptID != scripts[0].ScriptID {
				t.Errorf("action %s: operations %+v, want one that runs script %s", name, a.Operations, scripts[0].ScriptID)
			}
		}
	})

	// Discovery of the inventory's guests plus the test VM, which claims to be a VM of
	// the first service.
	guests := []zabbix.Guest{{UUID: testVM, Name: "vcr-test-vm", Service: svc.Name, Standby: svc.Standby.Host}}
	for _, s := range inv.Services {
		if s.Hypervisor == hyp.Name {
			guests = append(guests, zabbix.Guest{UUID: s.VMUUID.String(), Name: s.Name, Service: s.Name, Standby: s.Standby.Host})
		}
	}
	disc := zabbix.Value{Host: hyp.ZabbixHost, Key: zabbix.KeyGuestDiscovery, Value: zabbix.GuestDiscovery(guests)}
	if _, err := sender.Send(ctx, []zabbix.Value{disc}); err != nil {
		t.Fatalf("send guest discovery to %s: %v", hyp.ZabbixHost, err)
	}
	var stateItem zabbix.Item
	waitFor(t, "the test VM's state item on "+hyp.ZabbixHost, func() (bool, error) {
		items, err := api.ItemsOfHost(ctx, hyp.ZabbixHost, zabbix.KeyGuestState(testVM))
		if err != nil || len(items) == 0 {
			return false, err
		}
		stateItem = items[0]
		return true, nil
	})
	if stateItem.Type != 2 || stateItem.ValueType != 3 {
		t.Errorf("item %s: type %d value type %d, want trapper (2) numeric unsigned (3)", stateItem.Key, stateItem.Type, stateItem.ValueType)
	}
	for _, key := range []string{zabbix.KeyGuestStateText(testVM), zabbix.KeyGuestCPU(testVM), zabbix.KeyGuestVCPUs(testVM), zabbix.KeyGuestMemory(testVM)} {
		if items, err := api.ItemsOfHost(ctx, hyp.ZabbixHost, key); err != nil || len(items) != 1 {
			t.Errorf("item %s: %v %v", key, items, err)
		}
	}

	vmTag := []zabbix.Tag{{Tag: "vm_uuid", Value: testVM}}
	before, err := api.ProblemsWithTags(ctx, vmTag, true)
	if err != nil {
		t.Fatal(err)
	}
	lastEvent := int64(0)
	for _, p := range before {
		lastEvent = max(lastEvent, atoi(p.EventID))
	}

	// The new items reach the trapper's configuration at the next reload. "running"
	// first: an unchanged value is discarded, so the shutoff below is always a change.
	lab.ReloadZabbixConfig(t)
	send := func(state string) {
		t.Helper()
		v := []zabbix.Value{{Host: hyp.ZabbixHost, Key: zabbix.KeyGuestState(testVM), Value: state}}
		waitFor(t, "the trapper to take "+zabbix.KeyGuestState(testVM), func() (bool, error) {
			_, err := sender.Send(ctx, v)
			if errors.Is(err, zabbix.ErrRejected) {
				lab.ReloadZabbixConfig(t)
				return false, err
			}
			return err == nil, err
		})
	}
	send("1")
	send("5")

	var problem zabbix.Problem
	waitFor(t, "a problem for the shut-off test VM", func() (bool, error) {
		ps, err := api.ProblemsWithTags(ctx, vmTag, false)
		for _, p := range ps {
			if atoi(p.EventID) > lastEvent {
				problem = p
				return true, nil
			}
		}
		return false, err
	})
	// Events also carry their item's and host's tags: check that ours are there, and
	// that service has one value (the wrapper gets {EVENT.TAGS.service}).
	for _, want := range []zabbix.Tag{{Tag: "vcrcovery", Value: "recover"}, {Tag: "service", Value: svc.Name},
		{Tag: "standby", Value: svc.Standby.Host}, {Tag: "vm_uuid", Value: testVM}} {
		if !containsTag(problem.Tags, want) {
			t.Errorf("problem %s %q has tags %v, want %s=%s among them", problem.EventID, problem.Name, problem.Tags, want.Tag, want.Value)
		}
	}
	for _, tg := range problem.Tags {
		if tg.Tag == "service" && tg.Value != svc.Name {
			t.Errorf("problem %s has a second service tag %q", problem.EventID, tg.Value)
		}
	}

	want := fmt.Sprintf("%s %s %s", svc.Name, problem.EventID, problem.ObjectID)
	waitFor(t, fmt.Sprintf("the action to run %q on the standby's agent", want), func() (bool, error) {
		b, err := os.ReadFile(out)
		if err != nil {
			return false, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line == want {
				return true, nil
			}
		}
		return false, fmt.Errorf("calls so far: %q", b)
	})
}

func atoi(s string) int64 {
	var n int64
	fmt.Sscan(s, &n)
	return n
}
