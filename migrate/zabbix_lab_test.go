package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// TestLabZabbixActionMigrates is the -auto chain through Zabbix: the lab's standby is
// made really overloaded (filler containers past its capacity of the lab inventory),
// the test sends vcr.standby.overload above 1 to its Zabbix host, the standby
// template's "overloaded" trigger opens a problem tagged vcrcovery=migrate, the
// provisioned action runs scripts/zabbix-migrate on the lab agent, which starts this
// checkout's vcr-migrate -auto -event ID; the lab's warm web1 moves (to big or spare) and the
// event is acknowledged with the move. Then the load goes down, the problem resolves,
// and web1 moves back.
func TestLabZabbixActionMigrates(t *testing.T) {
	invPath := lab.Need(t, "INVENTORY")
	inv, err := config.Load(invPath)
	if err != nil {
		t.Fatal(err)
	}
	svc, ok := inv.Service("web1")
	if !ok || svc.Standby.Host != "standby" {
		t.Fatalf("the lab inventory has no web1 on standby")
	}
	sb, _ := inv.Standby("standby")
	e := &env{t: t, svc: svc.Name}
	if st := e.status("standby"); st != "RUNNING" {
		t.Fatalf("web1 on standby: %q, want RUNNING (the lab's warm standby)", st)
	}
	// Provision with an action whose command runs this checkout's vcr-migrate.
	lab.Run(t, 3*time.Minute, lab.Root(t)+"/scripts/lab", "provision")
	ctx := context.Background()
	api, err := zabbix.Login(ctx, inv.Zabbix)
	if err != nil {
		lab.Missing(t, "zabbix-api", err)
	}
	t.Cleanup(func() { api.Logout(context.Background()) })
	sender := &zabbix.Sender{Addr: inv.Zabbix.Server.String()}
	sendLoad := func(v string) {
		t.Helper()
		if _, err := sender.Send(ctx, []zabbix.Value{{Host: sb.ZabbixHost, Key: zabbix.KeyStandbyOverload, Value: v}}); err != nil {
			t.Fatalf("send %s=%s: %v", zabbix.KeyStandbyOverload, v, err)
		}
	}
	sendLoad("0") // a clean start: no open problem

	// Fillers: not inventory services, so they count as load and never move.
	n := e.running()
	var fillers []string
	for i := 0; n+len(fillers) <= sb.Capacity; i++ {
		name := fmt.Sprintf("mig-fill-%d", i)
		e.lxcErr("delete", "--force", name)
		e.lxc("launch", "busybox", name, "-q")
		fillers = append(fillers, name)
	}
	t.Cleanup(func() {
		for _, f := range fillers {
			e.lxcErr("delete", "--force", f)
		}
		sendLoad("0")
		if e.status("standby") == "" {
			out, err := exec.Command(binary, "-config", invPath, "-service", svc.Name, "-to", "standby").CombinedOutput()
			if err != nil {
				t.Errorf("move web1 back: %v\n%s", err, out)
			}
		}
		forgetCooldown(t, inv.StateDir, svc.Name)
	})

	start := time.Now()
	sendLoad("1.5")
	// The target is the standby with the most headroom: big or spare (both empty).
	var to string
	lab.Until(t, "the action moved web1 off standby", 90*time.Second, func() error {
		if st := e.status("standby"); st != "" {
			return fmt.Errorf("web1 still on standby: %q", st)
		}
		for _, o := range inv.Standbys {
			if o.Name != "standby" && e.status(o.Name) == "RUNNING" {
				to = o.Name
				return nil
			}
		}
		return fmt.Errorf("web1 runs nowhere")
	})
	t.Logf("overload sent -> web1 moved to %s through the Zabbix action: %.1f s", to, time.Since(start).Seconds())

	var event string
	lab.Until(t, "vcr-migrate acknowledged the event", 30*time.Second, func() error {
		var events []struct {
			EventID      string `json:"eventid"`
			Acknowledged string `json:"acknowledged"`
			Acks         []struct {
				Message string `json:"message"`
			} `json:"acknowledges"`
		}
		err := api.Call(ctx, "event.get", map[string]any{"output": []string{"eventid", "acknowledged"}, "select_acknowledges": "extend",
			"value": 1, "tags": []any{map[string]any{"tag": "vcrcovery", "value": "migrate", "operator": 1},
				map[string]any{"tag": "standby", "value": sb.ZabbixHost, "operator": 1}},
			"sortfield": "eventid", "sortorder": "DESC", "limit": 1, "time_from": start.Add(-5 * time.Second).Unix()}, &events)
		if err != nil || len(events) != 1 || events[0].Acknowledged != "1" || len(events[0].Acks) == 0 {
			return fmt.Errorf("event not acknowledged: %+v %v", events, err)
		}
		msg := events[0].Acks[0].Message
		if !strings.Contains(msg, "vcrcovery migrate -auto: ok") || !strings.Contains(msg, "web1 standby -> "+to+": ok") {
			return fmt.Errorf("acknowledgement %q", msg)
		}
		event = events[0].EventID
		t.Logf("event %s acknowledged: %s", event, msg)
		return nil
	})

	// The load goes down: the problem resolves.
	for _, f := range fillers {
		e.lxcErr("delete", "--force", f)
	}
	sendLoad("0.5")
	lab.Until(t, "the problem resolved", 30*time.Second, func() error {
		var events []struct {
			REventID string `json:"r_eventid"`
		}
		if err := api.Call(ctx, "event.get", map[string]any{"eventids": event, "output": []string{"r_eventid"}}, &events); err != nil || len(events) != 1 || events[0].REventID == "0" {
			return fmt.Errorf("event %s: %+v %v", event, events, err)
		}
		return nil
	})
}

// forgetCooldown drops service from -auto's cool-down record, so that later -auto runs
// on the lab inventory may move it again.
func forgetCooldown(t *testing.T, stateDir, service string) {
	path := filepath.Join(stateDir, "migrate-auto.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	m := map[string]time.Time{}
	if json.Unmarshal(b, &m) != nil {
		return
	}
	delete(m, service)
	b, _ = json.Marshal(m)
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Errorf("cool-down record: %v", err)
	}
}
