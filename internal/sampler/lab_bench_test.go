package sampler

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// benchHost does not exist in the lab's Zabbix: the server parses and refuses every
// value, for the sender and the shell pipeline alike, and nothing in the lab reacts.
const benchHost = "vcr-bench-no-such-host"

// BenchmarkLabRound compares, in the same run and against the same real agent (the
// lab's snmpd with 1,000 or 10,000 generated guests, its table cached 5 s) and the
// same Zabbix trapper, one sampling round of:
//   - daemon: the vcr-sender engine in this process (what the daemon does each tick);
//   - cron: `vcr-sender -once` (process start, inventory, state file, the round);
//   - shell: `scripts/bench-sender pipeline`, snmpbulkwalk + awk + zabbix_sender.
//
// Each round starts more than 5 s after the previous one, so every contender pays for
// the agent reading its table afresh. Figures are seconds per round and the ratios;
// nothing is asserted. b.N is the number of rounds per contender (-benchtime 3x).
func BenchmarkLabRound(b *testing.B) {
	root := lab.Root(b)
	bin := filepath.Join(b.TempDir(), "vcr-sender")
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "sender")).CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	src, err := os.ReadFile(lab.Need(b, "INVENTORY"))
	if err != nil {
		b.Fatal(err)
	}
	inv := regexp.MustCompile(`(?m)^(\s+zabbix_host:) lab-kvm$`).ReplaceAll(src, []byte("$1 "+benchHost))
	invPath := filepath.Join(b.TempDir(), "vcrcovery.yaml")
	if err := os.WriteFile(invPath, inv, 0o600); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("guests=%d", n), func(b *testing.B) {
			setSynthetic(b, n)
			inv := labInventory(b)
			inv.Hypervisors[0].ZabbixHost = benchHost
			o := labOptions(b, inv, &zabbix.Sender{Addr: inv.Zabbix.Server.String(), Timeout: inv.Zabbix.Timeout, Compress: true}, &lab.SyncBuffer{})
			o.Policy.Interval = 20 * time.Second // rounds come every ~18 s here
			e, err := New(o, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			dir, state := b.TempDir(), filepath.Join(b.TempDir(), "state.json")
			// cpu is the CPU time of the last contender's own processes.
			var cpu, walkT, sendT, waitT time.Duration
			var requests int
			shell := func() error {
				cmd := exec.Command(filepath.Join(root, "scripts", "bench-sender"), "pipeline", dir, benchHost)
				err := cmd.Run()
				cpu = processCPU(cmd)
				return err
			}
			cron := func() error {
				cmd := exec.Command(bin, "-config", invPath, "-once", "-state", state, "-interval", "20s")
				out, err := cmd.CombinedOutput()
				cpu = processCPU(cmd)
				if err != nil && !regexp.MustCompile(`rejected|not all accepted`).Match(out) {
					return fmt.Errorf("%v: %s", err, out)
				}
				return nil
			}
			daemon := func() error {
				before := selfCPU()
				r := e.Round(context.Background(), e.o.Clock.Now())
				cpu = selfCPU() - before
				h := r.Hypervisors[0]
				if h.Err != nil || h.Guests != n+2 {
					return fmt.Errorf("daemon round: %+v", h)
				}
				walkT, sendT, waitT, requests = walkT+h.Walk, sendT+h.Send, waitT+h.Wait, requests+h.Requests
				return nil
			}
			// spaced runs f after the agent's cache has expired since the last run, and
			// measures its wall time and the agent's CPU time meanwhile.
			var last time.Time
			var agent time.Duration
			spaced := func(f func() error) (time.Duration, error) {
				time.Sleep(time.Until(last.Add(5100 * time.Millisecond)))
				a := agentCPU(b)
				last = time.Now()
				err := f()
				el := time.Since(last)
				agent = agentCPU(b) - a
				return el, err
			}
			// Priming: the agent's table gets the guests, each contender its first
			// sample (the engine's waits for the agent's cache; not measured).
			time.Sleep(5500 * time.Millisecond)
			for _, f := range []func() error{func() error { e.Round(context.Background(), e.o.Clock.Now()); return nil }, cron, shell} {
				if _, err := spaced(f); err != nil {
					lab.Missing(b, "snmp or zabbix", err)
				}
			}
			walkT, sendT, waitT, requests = 0, 0, 0, 0
			type totals struct{ wall, cpu, agent time.Duration }
			var daemonT, cronT, shellT totals
			for i := 0; i < b.N; i++ {
				for _, c := range []struct {
					f func() error
					t *totals
				}{{daemon, &daemonT}, {cron, &cronT}, {shell, &shellT}} {
					el, err := spaced(c.f)
					if err != nil {
						b.Fatal(err)
					}
					c.t.wall += el
					c.t.cpu += cpu
					c.t.agent += agent
				}
			}
			per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
			for _, c := range []struct {
				name string
				t    totals
			}{{"daemon", daemonT}, {"cron", cronT}, {"shell", shellT}} {
				b.ReportMetric(per(c.t.wall), c.name+"-s/round")
				b.ReportMetric(per(c.t.cpu), c.name+"-cpu-s/round")
				b.ReportMetric(per(c.t.agent), c.name+"-agent-cpu-s/round")
			}
			b.ReportMetric(per(waitT), "daemon-probe-s/round")
			b.ReportMetric(per(walkT), "daemon-walk-s/round")
			b.ReportMetric(per(sendT), "daemon-send-s/round")
			b.ReportMetric(float64(requests)/float64(b.N), "daemon-getbulk/round")
			b.ReportMetric(shellT.wall.Seconds()/daemonT.wall.Seconds(), "shell/daemon-wall")
			b.ReportMetric(shellT.wall.Seconds()/cronT.wall.Seconds(), "shell/cron-wall")
			b.ReportMetric(shellT.cpu.Seconds()/daemonT.cpu.Seconds(), "shell/daemon-cpu")
			b.ReportMetric(shellT.cpu.Seconds()/cronT.cpu.Seconds(), "shell/cron-cpu")
		})
	}
}

// processCPU is the CPU time of a finished command and of the descendants it waited
// for (wait4's rusage).
func processCPU(cmd *exec.Cmd) time.Duration {
	if cmd.ProcessState == nil {
		return 0
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// selfCPU is this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// agentCPU is the CPU time used so far by the lab's snmpd and its pass_persist
// program (and what that waited for: the virsh reads of libvirt), from /proc.
func agentCPU(b *testing.B) time.Duration {
	dir := os.Getenv("VCR_LAB_DIR")
	if dir == "" {
		dir = "/var/lib/vcrcovery-lab"
	}
	pidb, err := os.ReadFile(filepath.Join(dir, "run", "snmpd.pid"))
	if err != nil {
		b.Fatalf("lab snmpd: %v", err)
	}
	pid := strings.TrimSpace(string(pidb))
	pids := []string{pid}
	tasks, _ := filepath.Glob(filepath.Join("/proc", pid, "task", "*", "children"))
	for _, t := range tasks {
		c, _ := os.ReadFile(t)
		pids = append(pids, strings.Fields(string(c))...)
	}
	var ticks int64
	for _, p := range pids {
		st, err := os.ReadFile(filepath.Join("/proc", p, "stat"))
		if err != nil {
			continue
		}
		// Fields after the command name "(...)": utime stime cutime cstime are 14-17.
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
		for _, i := range []int{11, 12, 13, 14} {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}
