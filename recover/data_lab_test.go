package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/datasync"
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
