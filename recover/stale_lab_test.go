package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/recovery"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// TestLabStaleEvent reproduces issue 12's item 5 on the real Zabbix: web1's primary is
// destroyed and Zabbix opens the shut-off problem (state sent as trapd does); trapd's
// fast path recovers at once (a run without -event), the service is failed back at
// once, and only then does the Zabbix action's run come with the problem's event, while
// Zabbix still says shut off: it changes nothing (exit 0, stale-event). Once the
// problem is resolved, a run with its event is stale for that reason. The provisioned
// action is disabled meanwhile, so that the delayed run is this test's.
func TestLabStaleEvent(t *testing.T) {
	e := labEnv(t)
	svc, _ := e.inv.Service("web1")
	ctx := context.Background()
	api, state := e.guestStates(t, svc)
	var actions []zabbix.Action
	if err := api.Call(ctx, "action.get", map[string]any{"output": []string{"actionid", "status"},
		"filter": map[string]any{"name": "vcrcovery recover on " + svc.Standby.Host}}, &actions); err != nil || len(actions) != 1 {
		t.Fatalf("the recover action: %+v %v", actions, err)
	}
	setAction := func(status int) error {
		return api.Call(ctx, "action.update", map[string]any{"actionid": actions[0].ActionID, "status": status}, nil)
	}
	if err := setAction(1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := setAction(0); err != nil {
			t.Errorf("enable the recover action again: %v", err)
		}
	})

	// 1. The failure: destroyed, and Zabbix has the shut-off state and its problem.
	start := time.Now()
	e.destroy(t, svc)
	if err := state("5"); err != nil {
		t.Fatal(err)
	}
	problem := func() (zabbix.Event, error) {
		var evs []zabbix.Event
		err := api.Call(ctx, "event.get", map[string]any{"output": []string{"eventid", "clock", "ns", "value", "r_eventid"},
			"value": 1, "time_from": start.Add(-time.Second).Unix(), "sortfield": "eventid", "sortorder": "DESC", "limit": 1,
			"tags": []any{map[string]any{"tag": "service", "value": svc.Name, "operator": 1},
				map[string]any{"tag": "vcrcovery", "value": "recover", "operator": 1}}}, &evs)
		if err == nil && len(evs) != 1 {
			err = fmt.Errorf("no problem event yet")
		}
		if err != nil {
			return zabbix.Event{}, err
		}
		return evs[0], nil
	}
	var ev zabbix.Event
	lab.Until(t, "the shut-off problem opens", 30*time.Second, func() (err error) { ev, err = problem(); return err })

	// 2. The fast path's run, and an immediate failback.
	if rep, stderr := e.recover(t, "-service", svc.Name); rep.Result != recovery.ResultOK {
		t.Fatalf("fast-path recover: %+v\n%s", rep, stderr)
	}
	e.virsh(t, "start", svc.Name)
	lab.Until(t, "primary serves", 30*time.Second, func() error { _, err := httpGet(svc.PrimaryAddress.String()); return err })
	if rep, stderr := e.recover(t, "-service", svc.Name, "-failback"); rep.Result != recovery.ResultOK {
		t.Fatalf("failback: %+v\n%s", rep, stderr)
	}

	// 3. The action's delayed run, Zabbix still saying shut off: no switch.
	rep, stderr := e.recover(t, "-service", svc.Name, "-event", ev.EventID)
	if rep.ExitCode != 0 || rep.Result != recovery.ResultStale || !strings.Contains(rep.Message, "before the last failback") {
		t.Fatalf("delayed run with event %s: %+v\n%s", ev.EventID, rep, stderr)
	}
	if got := e.lookup(t, svc.DNSName); len(got) != 1 || got[0] != svc.PrimaryAddress {
		t.Fatalf("%s -> %v after the stale run, want the primary", svc.DNSName, got)
	}
	for _, s := range rep.Steps {
		if s.Name == "fence" || s.Name == "container" || s.Name == "dns" {
			t.Errorf("the stale run went on to step %s", s.Name)
		}
	}

	// 4. Resolved: trapd's "running" closes the problem; its event is stale for that.
	if err := state("1"); err != nil {
		t.Fatal(err)
	}
	lab.Until(t, "the problem is resolved", 30*time.Second, func() error {
		var evs []zabbix.Event
		if err := api.Call(ctx, "event.get", map[string]any{"eventids": []string{ev.EventID}, "output": []string{"eventid", "r_eventid"}}, &evs); err != nil {
			return err
		}
		if len(evs) != 1 || !evs[0].Resolved() {
			return fmt.Errorf("event %+v", evs)
		}
		return nil
	})
	rep, stderr = e.recover(t, "-service", svc.Name, "-event", ev.EventID)
	if rep.ExitCode != 0 || rep.Result != recovery.ResultStale || !strings.Contains(rep.Message, "already resolved") {
		t.Fatalf("run with the resolved event: %+v\n%s", rep, stderr)
	}
	t.Logf("stale-event check: %.3f s of the run", stepSeconds(rep, "event-check"))
}

func stepSeconds(rep *recovery.Report, name string) float64 {
	for _, s := range rep.Steps {
		if s.Name == name {
			return s.Seconds
		}
	}
	return 0
}
