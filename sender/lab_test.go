package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/hypervisor/hypervisortest"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// TestLabCronMatchesDaemon runs the built vcr-sender against the lab's real agent
// (snmpd, 5 s table cache) serving 20 generated guests whose CPU use is known: three
// cron runs (-once -align, separate processes, the state file between them) and a
// daemon of three rounds give the same series: no CPU % in the first sample, then each
// guest's load in the next two. The generated guests' CpuTime grows with the agent's
// clock, so the two series cannot be bit-identical; they must agree within 0.5 %.
func TestLabCronMatchesDaemon(t *testing.T) {
	inv := lab.Need(t, "INVENTORY")
	synth := lab.Need(t, "SNMP_SYNTHETIC_FILE")
	const n = 20
	if err := os.WriteFile(synth, []byte(strconv.Itoa(n)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(synth, []byte("0\n"), 0o644) })
	bin := filepath.Join(t.TempDir(), "vcr-sender")
	lab.Run(t, 2*time.Minute, "go", "build", "-o", bin, ".")
	time.Sleep(5500 * time.Millisecond) // the agent's cached table has the guests now

	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"-config", inv, "-no-send", "-print"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			lab.Missing(t, "snmp", &runError{err, errb.String()})
		}
		t.Logf("vcr-sender %s:\n%s", strings.Join(args, " "), errb.String())
		return out.String()
	}
	state := filepath.Join(t.TempDir(), "state.json")
	var cron []map[string]float64
	for range 3 {
		cron = append(cron, cpuValues(run("-once", "-align", "-state", state)))
	}
	daemon := cpuByRound(run("-rounds", "3"))

	if len(daemon) != 2 || len(cron[0]) != 0 {
		t.Fatalf("daemon: %d rounds with CPU values (want 2); first cron run: %d values (want none)", len(daemon), len(cron[0]))
	}
	for r := range 2 {
		c, d := cron[r+1], daemon[r]
		for i, g := range hypervisortest.Synthetic(n, 0) {
			key := zabbix.KeyGuestCPU(g.UUID.String())
			want := float64(i%100+1) / float64(1+i%4)
			cv, cok := c[key]
			dv, dok := d[key]
			switch {
			case !cok || !dok:
				t.Errorf("sample %d, %s: cron %v, daemon %v", r+2, g.Name, cok, dok)
			case rel(cv, dv) > 0.005 || rel(cv, want) > 0.01:
				t.Errorf("sample %d, %s: cron %.4f %%, daemon %.4f %%, load %.4f %%", r+2, g.Name, cv, dv, want)
			}
		}
	}
}

type runError struct {
	err    error
	stderr string
}

func (e *runError) Error() string { return e.err.Error() + ": " + e.stderr }

func rel(a, b float64) float64 {
	if b == 0 {
		return a
	}
	d := (a - b) / b
	if d < 0 {
		return -d
	}
	return d
}

var cpuLine = regexp.MustCompile(`^\S+ (vcr\.guest\.cpu\[[^\]]+\]) (\d+) (\S+)$`)

// cpuValues returns the CPU % values printed by one run.
func cpuValues(out string) map[string]float64 {
	m := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		if g := cpuLine.FindStringSubmatch(line); g != nil {
			m[g[1]], _ = strconv.ParseFloat(g[3], 64)
		}
	}
	return m
}

// cpuByRound splits a daemon's printed CPU values by their timestamp, in order.
func cpuByRound(out string) []map[string]float64 {
	var rounds []map[string]float64
	last := ""
	for _, line := range strings.Split(out, "\n") {
		g := cpuLine.FindStringSubmatch(line)
		if g == nil {
			continue
		}
		if g[2] != last {
			rounds = append(rounds, map[string]float64{})
			last = g[2]
		}
		rounds[len(rounds)-1][g[1]], _ = strconv.ParseFloat(g[3], 64)
	}
	return rounds
}
