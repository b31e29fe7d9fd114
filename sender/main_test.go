package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor/hypervisortest"
)

// fakeInventory writes an inventory with one hypervisor per fake agent.
func fakeInventory(t *testing.T, agents map[string]*hypervisortest.Agent, timeout time.Duration) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir: %s\nzabbix:\n  server: 127.0.0.1:1\nhypervisors:\n", filepath.Join(dir, "state"))
	for name, a := range agents {
		h, err := a.Hypervisor(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  - name: %s\n    address: %s\n    community_file: %s\n    timeout: %s\n    retries: 0\n", name, h.Address, h.CommunityFile, timeout)
	}
	path := filepath.Join(dir, "vcrcovery.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func startAgent(t *testing.T, guests []hypervisortest.Guest) *hypervisortest.Agent {
	t.Helper()
	a, err := hypervisortest.Start("community", guests)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func runSender(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := cli.Run(program, args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestOnce: cron mode against two agents, one of which never answers. The good one's
// values come out (CPU % from the second run on, through the state file), the dead
// one is reported by its error item and one log line, and the exit code says so.
func TestOnce(t *testing.T) {
	start := time.Now()
	good := startAgent(t, nil)
	good.SetSource(func() []hypervisortest.Guest { return hypervisortest.Synthetic(3, time.Since(start)) }, 0, nil)
	dead := startAgent(t, nil)
	dead.SetFault(hypervisortest.Silent)
	inv := fakeInventory(t, map[string]*hypervisortest.Agent{"good": good, "dead": dead}, 200*time.Millisecond)
	state := filepath.Join(t.TempDir(), "state.json")
	args := []string{"-config", inv, "-once", "-no-send", "-print", "-state", state, "-interval", "1s", "-agent-cache", "0"}

	code, out, errs := runSender(args...)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a hypervisor failed)\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if strings.Contains(out, "vcr.guest.cpu[") {
		t.Errorf("CPU values in the first run:\n%s", out)
	}
	for _, want := range []string{"good vcr.guest.state.text[c0ffee00-5e17-4000-8000-000000000002]", "good vcr.sender.error", "dead vcr.sender.error"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if n := strings.Count(errs, "hypervisor not sampled"); n != 1 || !strings.Contains(errs, "hypervisor=dead") {
		t.Errorf("want one log line about dead:\n%s", errs)
	}

	time.Sleep(time.Second)
	code, out, errs = runSender(args...)
	if code != 1 || strings.Count(out, "good vcr.guest.cpu[") != 3 {
		t.Fatalf("second run: exit %d, want 1 and 3 CPU values\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

func TestDaemonRounds(t *testing.T) {
	start := time.Now()
	a := startAgent(t, nil)
	a.SetSource(func() []hypervisortest.Guest { return hypervisortest.Synthetic(4, time.Since(start)) }, 0, nil)
	inv := fakeInventory(t, map[string]*hypervisortest.Agent{"kvm": a}, time.Second)
	code, out, errs := runSender("-config", inv, "-rounds", "3", "-interval", "250ms", "-no-send", "-print", "-agent-cache", "0")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if n := strings.Count(out, "kvm vcr.guest.cpu["); n != 8 {
		t.Fatalf("%d CPU values, want 8 (4 guests, rounds 2 and 3):\n%s", n, out)
	}
}

func TestUsage(t *testing.T) {
	a := startAgent(t, nil)
	inv := fakeInventory(t, map[string]*hypervisortest.Agent{"kvm": a}, time.Second)
	if code, _, errs := runSender("-config", inv, "-interval", "0s"); code != cli.ExitUsage {
		t.Errorf("-interval 0: exit %d\n%s", code, errs)
	}
	if code, out, _ := runSender("-config", inv, "-check"); code != cli.ExitOK || !strings.Contains(out, "valid") {
		t.Errorf("-check: exit %d: %s", code, out)
	}
	if code, _, errs := runSender("-h"); code != cli.ExitOK || !strings.Contains(errs, "-once") {
		t.Errorf("-h: exit %d\n%s", code, errs)
	}
}

// TestCronLoop runs scripts/cron/vcr-sender-minute, the documented per-minute cron
// form, twice at the same time (a loop that overran into the next minute's): each tick
// is sampled once, by one of them, and the CPU % comes from the second tick on.
func TestCronLoop(t *testing.T) {
	start := time.Now()
	a := startAgent(t, nil)
	a.SetSource(func() []hypervisortest.Guest { return hypervisortest.Synthetic(3, time.Since(start)) }, 0, nil)
	inv := fakeInventory(t, map[string]*hypervisortest.Agent{"kvm": a}, time.Second)
	bin := filepath.Join(t.TempDir(), "vcr-sender")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	state := filepath.Join(t.TempDir(), "state.json")
	until := strconv.FormatInt(time.Now().Unix()+4, 10)
	outs := make([]bytes.Buffer, 2)
	var cmds []*exec.Cmd
	for i := range outs {
		cmd := exec.Command("../scripts/cron/vcr-sender-minute", "-config", inv, "-state", state, "-no-send", "-print", "-agent-cache", "0")
		cmd.Env = append(os.Environ(), "VCR_SENDER="+bin, "VCR_SENDER_INTERVAL=1s", "VCR_SENDER_UNTIL="+until)
		cmd.Stdout = &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("vcr-sender-minute: %v", err)
		}
	}
	perTick := map[string]int{}
	for _, o := range outs {
		for _, line := range strings.Split(o.String(), "\n") {
			if f := strings.Fields(line); len(f) == 4 && strings.HasPrefix(f[1], "vcr.guest.cpu[") {
				perTick[f[2]]++
			}
		}
	}
	if len(perTick) < 2 {
		t.Fatalf("CPU values at %d ticks, want at least 2:\n%s\n%s", len(perTick), &outs[0], &outs[1])
	}
	for tick, n := range perTick {
		if n != 3 {
			t.Errorf("tick %s: %d CPU values, want 3 (one sample of 3 guests)", tick, n)
		}
	}
}
