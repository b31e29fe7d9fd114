package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/datasync"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// syncVariant gives web1 the sync settings s (merged into its inventory entry).
func syncVariant(s map[string]any) func(t *testing.T, m map[string]any) {
	return func(t *testing.T, m map[string]any) {
		m["services"].([]any)[0].(map[string]any)["sync"] = s
	}
}

// syncRun runs vcr-recover -sync -json and returns its exit code and outcomes.
func syncRun(t *testing.T, inv string, args ...string) (int, []datasync.Outcome, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"-config", inv, "-sync", "-json"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	var outs []datasync.Outcome
	if err := json.Unmarshal(out, &outs); err != nil {
		t.Fatalf("-sync output: %v\n%s\n%s", err, out, stderr.String())
	}
	return cmd.ProcessState.ExitCode(), outs, stderr.String()
}

// TestLabSyncDirection: the sync command really runs in web1's standby container,
// except while web1 is marked recovered, where -sync refuses and says why, even with
// -force; once the mark is cleared (as a finished failback does) it runs again, and not
// again before its period. The mark is a file in state_dir, so it holds across runs.
func TestLabSyncDirection(t *testing.T) {
	e := labEnv(t)
	marker := "/tmp/vcr-sync-direction"
	lxc(t, "exec", "web1", "--", "rm", "-f", marker)
	t.Cleanup(func() { lxc(t, "exec", "web1", "--", "rm", "-f", marker) })
	inv := e.variant(t, syncVariant(map[string]any{
		"command": []string{"sh", "-c", "date +%s >>" + marker}, "period": "1h", "timeout": "10s"}))
	ran := func() int {
		out, _ := lxc(t, "exec", "web1", "--", "sh", "-c", "cat "+marker+" 2>/dev/null | wc -l")
		n := strings.TrimSpace(out)
		return map[string]int{"0": 0, "1": 1, "2": 2}[n]
	}
	if err := datasync.MarkRecovered(e.inv.StateDir, "web1", "recover event 7", time.Now()); err != nil {
		t.Fatal(err)
	}
	code, outs, _ := syncRun(t, inv, "-service", "web1", "-force")
	if code != 0 || len(outs) != 1 || outs[0].Result != datasync.ResultRefused || !strings.Contains(outs[0].Message, "no sync towards the container until -failback") {
		t.Fatalf("recovered: exit %d %+v", code, outs)
	}
	if n := ran(); n != 0 {
		t.Fatalf("the sync ran %d times towards a recovered container", n)
	}
	if err := datasync.ClearRecovered(e.inv.StateDir, "web1", "failback", time.Now()); err != nil {
		t.Fatal(err)
	}
	code, outs, _ = syncRun(t, inv, "-service", "web1")
	if code != 0 || outs[0].Result != datasync.ResultOK || outs[0].Age == nil {
		t.Fatalf("after failback: exit %d %+v", code, outs)
	}
	code, outs, _ = syncRun(t, inv, "-standby", "standby")
	if code != 0 || outs[0].Result != datasync.ResultNotDue {
		t.Fatalf("second run within the period: exit %d %+v", code, outs)
	}
	if n := ran(); n != 1 {
		t.Fatalf("the sync ran %d times, want once", n)
	}
}

// TestLabSyncBadCommands: a hanging sync is killed inside the container at its
// timeout and reported (exit 9), and garbage from a lag command is an error naming it.
func TestLabSyncBadCommands(t *testing.T) {
	e := labEnv(t)
	t.Cleanup(func() { e.syncOK(t) }) // the failures reported here open "Sync of web1 failed"
	inv := e.variant(t, syncVariant(map[string]any{"command": []string{"sleep", "127"}, "period": "1m", "timeout": "1s"}))
	code, outs, _ := syncRun(t, inv, "-service", "web1")
	if code != cli.ExitData || outs[0].Result != datasync.ResultTimeout || !strings.Contains(outs[0].Message, "killed at its timeout after 1s") {
		t.Fatalf("hanging sync: exit %d %+v", code, outs)
	}
	if out, _ := lxc(t, "exec", "web1", "--", "ps"); strings.Contains(out, "sleep 127") {
		t.Fatalf("the hanging sync still runs in the container:\n%s", out)
	}
	inv = e.variant(t, syncVariant(map[string]any{"lag_command": []string{"echo", "replica stopped"}}))
	code, outs, _ = syncRun(t, inv, "-service", "web1", "-force") // the hang's run was this period's
	if code != cli.ExitData || outs[0].Result != datasync.ResultBadLag || !strings.Contains(outs[0].Message, `got "replica stopped"`) {
		t.Fatalf("garbage lag: exit %d %+v", code, outs)
	}
}

// syncOK leaves web1's sync items in Zabbix healthy (result ok, age 0), so that a
// test's failures leave no open problem behind.
func (e *env) syncOK(t *testing.T) {
	inv := e.variant(t, syncVariant(map[string]any{"command": []string{"true"}}))
	if code, outs, stderr := syncRun(t, inv, "-service", "web1", "-force"); code != 0 {
		t.Errorf("cleanup sync: exit %d %+v\n%s", code, outs, stderr)
	}
}

// TestLabStaleStandbyTrigger: a standby whose data is older than sync.max_age raises
// the standby template's "Standby data of web1 is stale" in the real Zabbix, from the
// items vcr-recover -sync sends; a fresh sync resolves it.
func TestLabStaleStandbyTrigger(t *testing.T) {
	e := labEnv(t)
	api := e.provisioned(t)
	sb, _ := e.inv.Standby("standby")
	inv := e.variant(t, syncVariant(map[string]any{"command": []string{"true"}, "period": "1h", "max_age": "2s"}))
	e.serviceItems(t, api, sb.Name, zabbix.KeySyncMaxAge("web1"), func() error {
		if code, outs, _ := syncRun(t, inv, "-service", "web1", "-force"); code != 0 {
			return fmt.Errorf("sync: exit %d %+v", code, outs)
		}
		return nil
	})
	t.Cleanup(func() { e.syncOK(t) })
	problem := func() (bool, error) { return triggerOn(api, sb.ZabbixHost, "Standby data of web1 is stale") }
	if p, err := problem(); err != nil || p {
		t.Fatalf("right after a sync: problem %v, %v", p, err)
	}
	// No sync for longer than max_age: the next run (not due, period 1h) reports the age.
	lab.Until(t, "the stale trigger fires", 30*time.Second, func() error {
		code, outs, _ := syncRun(t, inv, "-service", "web1")
		if code != 0 || outs[0].Result != datasync.ResultNotDue {
			t.Fatalf("run within the period: exit %d %+v", code, outs)
		}
		if p, err := problem(); err != nil || !p {
			return fmt.Errorf("no problem yet (age %v): %v", outs[0].Age, err)
		}
		return nil
	})
	e.syncOK(t)
	lab.Until(t, "a fresh sync resolves it", 30*time.Second, func() error {
		if p, err := problem(); err != nil || p {
			return fmt.Errorf("still a problem: %v", err)
		}
		return nil
	})
}

// provisioned provisions the lab's Zabbix from this checkout (templates, hosts, the
// recover action running this checkout's vcr-recover) and returns an API session,
// logged out at the end of the test.
func (e *env) provisioned(t *testing.T) *zabbix.API {
	t.Helper()
	lab.Run(t, 3*time.Minute, lab.Root(t)+"/scripts/lab", "provision")
	api, err := zabbix.Login(context.Background(), e.inv.Zabbix)
	if err != nil {
		lab.Missing(t, "zabbix-api", err)
	}
	t.Cleanup(func() { api.Logout(context.Background()) })
	return api
}

// lastValue is the last value of item key on host in the real Zabbix ("" and an error
// while it has none).
func lastValue(api *zabbix.API, host, key string) (string, error) {
	v, _, ok, err := api.LastValue(context.Background(), host, key)
	if err == nil && !ok {
		err = fmt.Errorf("%s on %s: no value yet", key, host)
	}
	return v, err
}

// serviceItems waits until the per-service item key (from the standby template's
// prototypes) of standby takes values sent by send, provisioned beforehand: LLD makes
// the items from the discovery value, and the trapper takes values for them after its
// next configuration cache reload.
func (e *env) serviceItems(t *testing.T, api *zabbix.API, standby, key string, send func() error) {
	t.Helper()
	sb, _ := e.inv.Standby(standby)
	sender := &zabbix.Sender{Addr: e.inv.Zabbix.Server.String()}
	lab.Until(t, key+" takes values", 90*time.Second, func() error {
		// Sent again each round: LLD that ran before the new prototypes were in the
		// server's configuration cache created no items from them.
		if _, err := sender.Send(context.Background(), []zabbix.Value{{Host: sb.ZabbixHost, Key: zabbix.KeyServiceDiscovery,
			Value: zabbix.ServiceDiscovery(e.servicesOf(sb.Name))}}); err != nil {
			return err
		}
		lab.ReloadZabbixConfig(t)
		if err := send(); err != nil {
			return err
		}
		_, err := lastValue(api, sb.ZabbixHost, key)
		return err
	})
}

// triggerOn reports whether the one trigger of host whose description contains name is
// in the problem state.
func triggerOn(api *zabbix.API, host, name string) (bool, error) {
	var trs []struct {
		Description string `json:"description"`
		Value       string `json:"value"`
	}
	err := api.Call(context.Background(), "trigger.get", map[string]any{"host": host, "output": []string{"description", "value"},
		"search": map[string]any{"description": name}}, &trs)
	if err != nil || len(trs) != 1 {
		return false, fmt.Errorf("trigger %q: %+v %v", name, trs, err)
	}
	return trs[0].Value == "1", nil
}

// servicesOf names the lab services whose standby is standby.
func (e *env) servicesOf(standby string) []string {
	var names []string
	for _, s := range e.inv.Services {
		if s.Standby.Host == standby {
			names = append(names, s.Name)
		}
	}
	return names
}

// TestLabFailbackDataSteps: on the lab, a failback whose reverse sync fails exits 9
// naming the step, leaves web1's name on its container (which keeps its data: the
// quiesce marker is there, nothing was removed) and the direction "recovered"; -sync
// then refuses; the rerun with a working reverse sync switches the name back, after
// which -sync runs again.
func TestLabFailbackDataSteps(t *testing.T) {
	e := labEnv(t)
	svc, _ := e.inv.Service("web1")
	const quiesced = "/tmp/vcr-quiesced"
	lxc(t, "exec", "web1", "--", "rm", "-f", quiesced)
	t.Cleanup(func() { lxc(t, "exec", "web1", "--", "rm", "-f", quiesced) })
	withHooks := func(reverse []string) {
		e.invPath = e.variant(t, func(t *testing.T, m map[string]any) {
			s := m["services"].([]any)[0].(map[string]any)
			s["sync"] = map[string]any{"command": []string{"true"}}
			s["failback"] = map[string]any{
				"quiesce":      map[string]any{"command": []string{"touch", quiesced}},
				"reverse_sync": map[string]any{"command": reverse, "timeout": "5s"},
				"verify":       map[string]any{"command": []string{"test", "-e", quiesced}},
			}
		})
	}
	withHooks([]string{"sh", "-c", "echo primary unreachable >&2; exit 2"})
	e.destroy(t, svc)
	if rep, stderr := e.recover(t, "-service", svc.Name); rep.ExitCode != 0 {
		t.Fatalf("recover: %+v\n%s", rep, stderr)
	}
	ip := e.checkServedByContainer(t, svc)
	e.virsh(t, "start", svc.Name)
	lab.Until(t, "primary serves", 30*time.Second, func() error { _, err := httpGet(svc.PrimaryAddress.String()); return err })

	if code, outs, _ := syncRun(t, e.invPath, "-service", "web1", "-force"); code != 0 || outs[0].Result != datasync.ResultRefused {
		t.Fatalf("-sync while recovered, primary back: exit %d %+v", code, outs)
	}
	rep, _ := e.recover(t, "-service", svc.Name, "-failback")
	if rep.ExitCode != cli.ExitData || !strings.Contains(rep.Message, "failback step reverse-sync failed, nothing switched") ||
		!strings.Contains(rep.Message, "primary unreachable") {
		t.Fatalf("failing reverse sync: %+v", rep)
	}
	if got := e.lookup(t, svc.DNSName); len(got) != 1 || got[0] != ip {
		t.Fatalf("after a failed reverse sync %s -> %v, want the container %s", svc.DNSName, got, ip)
	}
	if out, err := lxc(t, "exec", "web1", "--", "test", "-e", quiesced); err != nil {
		t.Fatalf("the container lost its quiesce marker: %v %s", err, out)
	}
	if code, outs, _ := syncRun(t, e.invPath, "-service", "web1", "-force"); code != 0 || outs[0].Result != datasync.ResultRefused {
		t.Fatalf("-sync after the failed failback: exit %d %+v", code, outs)
	}

	withHooks([]string{"true"})
	rep, stderr := e.recover(t, "-service", svc.Name, "-failback")
	if rep.ExitCode != 0 || rep.Result != "ok" {
		t.Fatalf("failback rerun: %+v\n%s", rep, stderr)
	}
	if got := e.lookup(t, svc.DNSName); len(got) != 1 || got[0] != svc.PrimaryAddress {
		t.Fatalf("after failback %s -> %v", svc.DNSName, got)
	}
	if code, outs, _ := syncRun(t, e.invPath, "-service", "web1", "-force"); code != 0 || outs[0].Result != datasync.ResultOK {
		t.Fatalf("-sync after failback: exit %d %+v", code, outs)
	}
}

// TestLabColdBackupAge: the cold standby web2's backup (the lab's image) is dated from
// LXD and reported; an image alias that vanished is an error naming it (exit 9).
func TestLabColdBackupAge(t *testing.T) {
	e := labEnv(t)
	backup := func(source string) func(t *testing.T, m map[string]any) {
		return func(t *testing.T, m map[string]any) {
			m["services"].([]any)[1].(map[string]any)["standby"].(map[string]any)["backup"] = map[string]any{
				"kind": "image", "source": source, "max_age": "8760h"}
		}
	}
	src := e.inv.Services[1].Standby.Backup.Source
	code, outs, stderr := syncRun(t, e.variant(t, backup(src)), "-service", "web2")
	if code != 0 || len(outs) != 1 || outs[0].BackupAge == nil || outs[0].Result != "" {
		t.Fatalf("backup age: exit %d %+v\n%s", code, outs, stderr)
	}
	t.Logf("RPO figure: web2 (cold) starts from image %s, %.0f s old", src, *outs[0].BackupAge)
	code, outs, _ = syncRun(t, e.variant(t, backup("vcr-no-such-image")), "-service", "web2")
	if code != cli.ExitData || !strings.Contains(outs[0].BackupError, "image alias vcr-no-such-image") {
		t.Fatalf("vanished image: exit %d %+v", code, outs)
	}
}
