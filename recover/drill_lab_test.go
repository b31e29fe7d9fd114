package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/drill"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/lock"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// drillRun runs vcr-recover -test -json and returns its exit code and reports.
func drillRun(t *testing.T, inv string, args ...string) (int, []drill.Report, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"-config", inv, "-test", "-json"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), decodeDrills(t, out, stderr.String()), stderr.String()
}

func decodeDrills(t *testing.T, out []byte, stderr string) []drill.Report {
	t.Helper()
	var reps []drill.Report
	if err := json.Unmarshal(out, &reps); err != nil {
		t.Fatalf("-test output: %v\n%s\n%s", err, out, stderr)
	}
	return reps
}

// scratchLeft lists the drill instances on the lab's standby LXD server.
func scratchLeft(t *testing.T) []string {
	t.Helper()
	out, err := lxc(t, "list", "--format", "csv", "-c", "n")
	if err != nil {
		t.Fatalf("lxc list: %v\n%s", err, out)
	}
	var left []string
	for _, n := range strings.Fields(out) {
		if strings.Contains(n, "-drill-") {
			left = append(left, n)
		}
	}
	return left
}

// unchanged: a drill touched neither the names nor the primaries.
func (e *env) unchanged(t *testing.T) {
	t.Helper()
	for _, s := range e.inv.Services {
		if got := e.lookup(t, s.DNSName); len(got) != 1 || got[0] != s.PrimaryAddress {
			t.Errorf("%s -> %v after a drill, want the primary %s", s.DNSName, got, s.PrimaryAddress)
		}
		if _, err := httpGet(s.PrimaryAddress.String()); err != nil {
			t.Errorf("primary of %s after a drill: %v", s.Name, err)
		}
	}
}

// TestLabDrill: a drill of the lab's standby (-standby): warm web1 is ready without a
// start, cold web2's image makes a scratch instance that answers, and it is gone after;
// DNS and the primaries are untouched. Logs the drill RTO figures.
func TestLabDrill(t *testing.T) {
	e := labEnv(t)
	// A test hook, run in the warm container only by drills.
	inv := e.variant(t, func(t *testing.T, m map[string]any) {
		m["services"].([]any)[0].(map[string]any)["hooks"] = []any{map[string]any{"name": "serves-index", "phase": "test",
			"command": []string{"test", "-s", "/www/index.html"}}}
	})
	for round := 0; round < 3; round++ {
		code, reps, stderr := drillRun(t, inv, "-standby", "standby")
		if code != 0 || len(reps) != 2 {
			t.Fatalf("drill: exit %d %+v\n%s", code, reps, stderr)
		}
		for _, r := range reps {
			if !r.Ready || r.Result != drill.ResultReady || r.Step != "" {
				t.Errorf("%s: %+v", r.Service, r)
			}
			var steps []string
			for _, s := range r.Steps {
				steps = append(steps, s.Name)
			}
			want := map[string]string{"web1": "lock container hook:serves-index address probe report",
				"web2": "lock create address probe delete report"}[r.Service]
			if got := strings.Join(steps, " "); got != want {
				t.Errorf("%s steps %q, want %q", r.Service, got, want)
			}
			t.Logf("drill RTO figure: %s (%s) %.3f s (whole drill %.3f s)", r.Service, r.Mode, r.Seconds, r.TotalSeconds)
		}
		if !strings.HasPrefix(reps[1].Instance, "web2-drill-") {
			t.Errorf("scratch instance %q", reps[1].Instance)
		}
	}
	if left := scratchLeft(t); len(left) != 0 {
		t.Errorf("scratch instances left behind: %v", left)
	}
	e.unchanged(t)
}

// TestLabDrillColdBroken: a cold drill whose backup is missing or broken reports not
// ready, naming the step, exits 4, and leaves no instance behind.
func TestLabDrillColdBroken(t *testing.T) {
	e := labEnv(t)
	garbage := filepath.Join(t.TempDir(), "web2.tar.gz")
	if err := os.WriteFile(garbage, []byte("not a backup tarball\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	backup := func(kind, source string) func(t *testing.T, m map[string]any) {
		return func(t *testing.T, m map[string]any) {
			m["services"].([]any)[1].(map[string]any)["standby"].(map[string]any)["backup"] = map[string]any{"kind": kind, "source": source}
		}
	}
	for _, tt := range []struct {
		name, kind, source, say string
	}{
		{"image vanished", "image", "vcr-no-such-image", "vcr-no-such-image"},
		{"tarball vanished", "backup", filepath.Join(t.TempDir(), "gone.tar.gz"), "no such file"},
		{"tarball broken", "backup", garbage, "create container web2-drill-"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, reps, stderr := drillRun(t, e.variant(t, backup(tt.kind, tt.source)), "-service", "web2")
			if code != cli.ExitContainer || len(reps) != 1 {
				t.Fatalf("exit %d %+v\n%s", code, reps, stderr)
			}
			r := reps[0]
			if r.Ready || r.Result != drill.ResultNotReady || r.Step != "create" || !strings.Contains(r.Message, tt.say) {
				t.Errorf("%+v, want not ready at create saying %q", r, tt.say)
			}
			if left := scratchLeft(t); len(left) != 0 {
				t.Errorf("scratch instances left behind: %v", left)
			}
		})
	}
	e.unchanged(t)
}

// TestLabDrillInterrupted: SIGTERM while the scratch instance runs a slow test hook:
// the drill removes the instance before it exits (1, interrupted). A drill killed
// (SIGKILL) cannot: its instance stays, and the next drill of the service sweeps it.
func TestLabDrillInterrupted(t *testing.T) {
	e := labEnv(t)
	inv := e.variant(t, func(t *testing.T, m map[string]any) {
		m["services"].([]any)[1].(map[string]any)["hooks"] = []any{map[string]any{"name": "slow", "phase": "test",
			"command": []string{"sleep", "60"}, "timeout": "90s"}}
	})
	t.Cleanup(func() {
		for _, n := range scratchLeft(t) {
			lxc(t, "delete", "--force", n)
		}
	})
	interrupt := func(sig os.Signal) (*exec.Cmd, []byte, string) {
		cmd := exec.Command(binary, "-config", inv, "-test", "-json", "-service", "web2")
		var stdout strings.Builder
		var stderr lab.SyncBuffer // read while the process writes it
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lab.Until(t, "the scratch instance runs its hook", 30*time.Second, func() error {
			if !strings.Contains(stderr.String(), "step=create") {
				return os.ErrNotExist
			}
			return nil
		})
		if left := scratchLeft(t); len(left) != 1 {
			t.Fatalf("scratch instances while the drill runs: %v", left)
		}
		cmd.Process.Signal(sig)
		cmd.Wait()
		return cmd, []byte(stdout.String()), stderr.String()
	}
	cmd, stdout, stderr := interrupt(syscall.SIGTERM)
	reps := decodeDrills(t, stdout, stderr)
	if code := cmd.ProcessState.ExitCode(); code != cli.ExitRuntime || reps[0].Result != drill.ResultInterrupted || reps[0].Step != "hook:slow" {
		t.Fatalf("exit %d %+v\n%s", code, reps, stderr)
	}
	if left := scratchLeft(t); len(left) != 0 {
		t.Fatalf("scratch instances left after SIGTERM: %v\n%s", left, stderr)
	}

	interrupt(syscall.SIGKILL)
	killed := scratchLeft(t)
	if len(killed) != 1 {
		t.Fatalf("after SIGKILL: instances %v, want the killed drill's", killed)
	}
	code, reps, stderr := drillRun(t, e.invPath, "-service", "web2")
	if code != 0 || !strings.Contains(stderr, "removed leftovers ["+killed[0]+"]") {
		t.Fatalf("the next drill: exit %d %+v\n%s", code, reps, stderr)
	}
	if left := scratchLeft(t); len(left) != 0 {
		t.Fatalf("instances left after the next drill: %v", left)
	}
}

// TestLabDrillLocked: while another run holds the service's lock, a drill refuses
// (exit 3), saying so, and creates nothing.
func TestLabDrillLocked(t *testing.T) {
	e := labEnv(t)
	l, err := lock.Acquire(context.Background(), lock.ServicePath(e.inv.StateDir, "web2"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	code, reps, stderr := drillRun(t, e.invPath, "-service", "web2")
	if code != cli.ExitRefused || reps[0].Result != drill.ResultRefused || !strings.Contains(reps[0].Message, "holds") {
		t.Fatalf("exit %d %+v\n%s", code, reps, stderr)
	}
	if strings.Contains(stderr, "step=create") || len(scratchLeft(t)) != 0 {
		t.Fatalf("a refused drill created an instance:\n%s", stderr)
	}
}

// TestLabDrillTrigger: a cold drill whose backup is missing raises the standby
// template's "Standby of web2 is not ready" in the real Zabbix, with the failed step in
// vcr.drill.step; the next good drill resolves it and reports its seconds.
func TestLabDrillTrigger(t *testing.T) {
	e := labEnv(t)
	api := e.provisioned(t)
	sb, _ := e.inv.Standby("standby")
	broken := e.variant(t, func(t *testing.T, m map[string]any) {
		m["services"].([]any)[1].(map[string]any)["standby"].(map[string]any)["backup"] = map[string]any{"kind": "image", "source": "vcr-no-such-image"}
	})
	good := func() error {
		if code, reps, _ := drillRun(t, e.invPath, "-service", "web2"); code != 0 {
			return fmt.Errorf("good drill: exit %d %+v", code, reps)
		}
		return nil
	}
	e.serviceItems(t, api, sb.Name, zabbix.KeyDrillSeconds("web2"), good)
	t.Cleanup(func() { good() })
	problem := func() (bool, error) { return triggerOn(api, sb.ZabbixHost, "Standby of web2 is not ready") }
	if p, err := problem(); err != nil || p {
		t.Fatalf("after a good drill: problem %v, %v", p, err)
	}
	if code, reps, stderr := drillRun(t, broken, "-service", "web2"); code != cli.ExitContainer {
		t.Fatalf("broken drill: exit %d %+v\n%s", code, reps, stderr)
	}
	lab.Until(t, "the not-ready trigger fires", 30*time.Second, func() error {
		if p, err := problem(); err != nil || !p {
			return fmt.Errorf("no problem yet: %v", err)
		}
		return nil
	})
	if step, err := lastValue(api, sb.ZabbixHost, zabbix.KeyDrillStep("web2")); err != nil || step != "create" {
		t.Errorf("vcr.drill.step[web2] = %q, %v; want create", step, err)
	}
	if err := good(); err != nil {
		t.Fatal(err)
	}
	lab.Until(t, "a good drill resolves it", 30*time.Second, func() error {
		if p, err := problem(); err != nil || p {
			return fmt.Errorf("still a problem: %v", err)
		}
		return nil
	})
}

// TestLabDrillTarball: a cold drill from an LXD backup tarball of a container that runs
// (here web1's, as a cold standby's own container runs while it is recovered) gets an
// address of its own: the tarball's MAC address is dropped, so its DHCP lease is not the
// running container's, which keeps serving.
func TestLabDrillTarball(t *testing.T) {
	e := labEnv(t)
	tarball := filepath.Join(t.TempDir(), "web1.tar.gz")
	if out, err := lxc(t, "export", "web1", tarball, "--instance-only"); err != nil {
		t.Fatalf("lxc export: %v\n%s", err, out)
	}
	before, err := lxc(t, "list", "web1", "--format", "csv", "-c", "4")
	if err != nil {
		t.Fatal(err)
	}
	web1 := strings.Fields(before)[0]
	inv := e.variant(t, func(t *testing.T, m map[string]any) {
		m["services"].([]any)[1].(map[string]any)["standby"].(map[string]any)["backup"] = map[string]any{"kind": "backup", "source": tarball}
	})
	code, reps, stderr := drillRun(t, inv, "-service", "web2")
	if code != 0 || !reps[0].Ready {
		t.Fatalf("tarball drill: exit %d %+v\n%s", code, reps, stderr)
	}
	if reps[0].Address == web1 {
		t.Fatalf("the scratch instance answered on web1's address %s", web1)
	}
	if body, err := httpGet(web1); err != nil || !strings.Contains(body, "web1") {
		t.Fatalf("web1's container at %s after the drill: %q %v", web1, body, err)
	}
	if left := scratchLeft(t); len(left) != 0 {
		t.Errorf("scratch instances left behind: %v", left)
	}
}
