package main

import (
	"context"
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

// TestLabZabbixActionRecovers is the chain of issue 6 through Zabbix: the primary VM is
// destroyed, the lab's libvirt-snmp agent sends the libvirtGuestNotif trap, a real
// vcr-trapd (fast path off, so that the action path is what is proven) turns it into
// the hypervisor's state item, the trigger opens a problem, the action runs the
// provisioned global script on the lab agent, and the real vcr-recover switches the name
// to the warm container and reports back to Zabbix.
func TestLabZabbixActionRecovers(t *testing.T) {
	e := labEnv(t)
	svc, _ := e.inv.Service("web1")
	ctx := context.Background()
	api, _ := e.guestStates(t, svc)

	startTrapd(t)
	e.virsh(t, "destroy", svc.Name)
	t.Cleanup(func() { e.restore(t, svc) })
	start := time.Now()
	// The name moves once the action's recover has run (history sync 1 s, escalator 3 s).
	lab.Until(t, "the action recovered "+svc.Name, 60*time.Second, func() error {
		got := e.lookup(t, svc.DNSName)
		if len(got) == 1 && got[0] != svc.PrimaryAddress {
			return nil
		}
		return fmt.Errorf("%s -> %v", svc.DNSName, got)
	})
	t.Logf("destroy -> name switched through the Zabbix action: %.1f s", time.Since(start).Seconds())
	e.checkServedByContainer(t, svc)

	// recover reported to the standby host and acknowledged the event.
	sb, _ := e.inv.Standby(svc.Standby.Host)
	lab.Until(t, "recover's result in Zabbix", 30*time.Second, func() error {
		var items []struct {
			LastValue string `json:"lastvalue"`
		}
		err := api.Call(ctx, "item.get", map[string]any{"host": sb.ZabbixHost, "output": []string{"lastvalue"},
			"filter": map[string]any{"key_": zabbix.KeyRecoverResult(svc.Name)}}, &items)
		if err != nil || len(items) != 1 || items[0].LastValue != "ok" {
			return fmt.Errorf("vcr.recover.result: %+v %v", items, err)
		}
		return nil
	})
	// The acknowledgement comes last in the run (after the items, once the API login
	// that runs beside the recovery is done): poll for it.
	lab.Until(t, "recover acknowledged the event", 30*time.Second, func() error {
		var events []struct {
			Acknowledged string `json:"acknowledged"`
			Acks         []struct {
				Message string `json:"message"`
			} `json:"acknowledges"`
		}
		err := api.Call(ctx, "event.get", map[string]any{"output": []string{"acknowledged"}, "select_acknowledges": "extend",
			"value": 1, // the problem event, not the OK events of other triggers tagged with the service
			"tags": []any{map[string]any{"tag": "service", "value": svc.Name, "operator": 1},
				map[string]any{"tag": "vcrcovery", "value": "recover", "operator": 1}}, "sortfield": "eventid",
			"sortorder": "DESC", "limit": 1, "time_from": start.Add(-time.Minute).Unix()}, &events)
		if err != nil || len(events) != 1 || events[0].Acknowledged != "1" || len(events[0].Acks) == 0 ||
			!strings.Contains(events[0].Acks[0].Message, "vcrcovery recover web1: ok") {
			return fmt.Errorf("event not acknowledged by recover: %+v %v", events, err)
		}
		return nil
	})
}

// guestStates provisions the lab's Zabbix (with an action whose command runs this
// checkout's vcr-recover), sends the guest discovery and waits until svc's state item
// takes values. It returns the API and a func that sends svc's libvirt state as trapd
// would; cleanup sends "running" (resolving any problem).
func (e *env) guestStates(t *testing.T, svc *config.Service) (*zabbix.API, func(state string) error) {
	t.Helper()
	hyp, _ := e.inv.Hypervisor(svc.Hypervisor)
	api := e.provisioned(t)
	ctx := context.Background()
	sender := &zabbix.Sender{Addr: e.inv.Zabbix.Server.String()}
	var guests []zabbix.Guest
	for _, s := range e.inv.Services {
		guests = append(guests, zabbix.Guest{UUID: s.VMUUID.String(), Name: s.Name, Service: s.Name, Standby: s.Standby.Host})
	}
	send := func(key, value string) error {
		_, err := sender.Send(ctx, []zabbix.Value{{Host: hyp.ZabbixHost, Key: key, Value: value}})
		return err
	}
	if err := send(zabbix.KeyGuestDiscovery, zabbix.GuestDiscovery(guests)); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	state := func(v string) error { return send(zabbix.KeyGuestState(svc.VMUUID.String()), v) }
	// LLD creates the per-guest items; the trapper sees them after a cache reload.
	lab.Until(t, "state item of "+svc.Name+" exists", 60*time.Second, func() error {
		lab.ReloadZabbixConfig(t)
		return state("1")
	})
	t.Cleanup(func() { state("1") }) // resolves the problem
	return api, state
}

// TestLabDryRunShowsAllEvidence: -dry-run waits for the Zabbix login that runs beside
// it, so its plan shows trapd's last state in Zabbix (here paused, which the agent's
// table does not say: web1 runs; the table may still say shut off for 5 s after an
// earlier test restarted it) and the VM host's availability next to the agent's
// state and the port.
func TestLabDryRunShowsAllEvidence(t *testing.T) {
	e := labEnv(t)
	svc, _ := e.inv.Service("web1")
	api, state := e.guestStates(t, svc)
	// Paused: a state no trigger acts on, and one the running VM's agent never shows.
	if err := state("3"); err != nil {
		t.Fatal(err)
	}
	hyp, _ := e.inv.Hypervisor(svc.Hypervisor)
	lab.Until(t, "Zabbix shows the paused state", 30*time.Second, func() error { // history sync: 1 s
		v, _, _, err := api.LastValue(context.Background(), hyp.ZabbixHost, zabbix.KeyGuestState(svc.VMUUID.String()))
		if err == nil && v != "3" {
			err = fmt.Errorf("last value %q", v)
		}
		return err
	})
	rep, stderr := e.recover(t, "-service", svc.Name, "-dry-run")
	var fenceLine string
	for _, p := range rep.Plan {
		if strings.HasPrefix(p, "fence ") {
			fenceLine = p
		}
	}
	for _, want := range []string{"libvirt state over snmp: ", "primary port", "last state in zabbix: paused", "zabbix host " + svc.ZabbixHost + ": "} {
		if !strings.Contains(fenceLine, want) {
			t.Errorf("dry run's fence line %q lacks %q\n%s", fenceLine, want, stderr)
		}
	}
}

// startTrapd runs vcr-trapd in listen mode on the lab's trap sink, from a copy of the lab
// inventory with every fast path off, until the test ends.
func startTrapd(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(lab.Need(t, "INVENTORY"))
	if err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(t.TempDir(), "trapd.yaml")
	text := strings.ReplaceAll(string(b), "fast_path: true", "fast_path: false")
	if err := os.WriteFile(inv, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "vcr-trapd")
	build := exec.Command("go", "build", "-o", bin, "./trapd")
	build.Dir = lab.Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build trapd: %v\n%s", err, out)
	}
	var logs lab.SyncBuffer
	cmd := exec.Command(bin, "-config", inv, "-mode", "listen", "-stats-interval", "0")
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("vcr-trapd log:\n%s", logs.String())
		}
	})
	// Listening within a moment; the first trap comes from the destroy that follows.
	lab.Until(t, "trapd listens", 10*time.Second, func() error {
		if strings.Contains(logs.String(), "level=ERROR") {
			t.Fatalf("vcr-trapd: %s", logs.String())
		}
		if cmd.ProcessState != nil {
			return fmt.Errorf("exited")
		}
		if !strings.Contains(logs.String(), "listen") {
			return fmt.Errorf("not yet listening")
		}
		return nil
	})
}
