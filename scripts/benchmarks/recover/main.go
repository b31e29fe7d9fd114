// Command recover benchmarks vcr-recover on the lab, side by side with the shell script
// an operator would otherwise write (scripts/benchmarks/recover-peer.sh): time from the start
// of the recovery to the DNS name switched and confirmed, warm (web1) and cold (web2),
// over several rounds, with vcr-recover's per-step medians. It prints figures; it
// asserts nothing. Run: eval "$(scripts/lab env)"; go run ./scripts/benchmarks/recover
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/benchres"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor"
	"github.com/vcrcovery/vcrcovery/internal/recovery"
)

func main() {
	rounds := flag.Int("rounds", 5, "rounds per mode and tool")
	jsonOut := flag.String("json", "", "also write the figures to this file (scripts/bench's results section)")
	flag.Parse()
	if err := run(*rounds, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "bench-recover:", err)
		os.Exit(1)
	}
}

type lab struct {
	inv     *config.Inventory
	invPath string
	dns     *dnsupdate.Client
	bin     string
	peer    string
}

func run(rounds int, jsonOut string) error {
	invPath := os.Getenv("VCR_LAB_INVENTORY")
	if invPath == "" {
		return fmt.Errorf("VCR_LAB_INVENTORY is not set: eval \"$(scripts/lab env)\"")
	}
	inv, err := config.Load(invPath)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-recover")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l := &lab{inv: inv, invPath: invPath, dns: &dnsupdate.Client{Server: inv.DNS.Server.String(), Zone: inv.DNS.Zone, Key: inv.DNS.TSIGKey, TTL: 2},
		bin: filepath.Join(dir, "vcr-recover"), peer: "scripts/benchmarks/recover-peer.sh"}
	if out, err := exec.Command("go", "build", "-o", l.bin, "./recover").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	fmt.Printf("vcr-recover vs the shell peer (%s), %d rounds each, lab on this machine\n", l.peer, rounds)
	fmt.Printf("%-5s %-12s %10s %10s %10s\n", "mode", "tool", "median_ms", "min_ms", "max_ms")
	var results []benchres.Recover
	for _, svcName := range []string{"web1", "web2"} {
		svc, _ := inv.Service(svcName)
		var ours, peer, switched []float64
		steps := map[string][]float64{}
		for i := 0; i < rounds; i++ {
			for _, tool := range []string{"vcr-recover", "peer"} {
				if i%2 == 1 { // alternate who goes first
					tool = map[string]string{"vcr-recover": "peer", "peer": "vcr-recover"}[tool]
				}
				if err := l.prepare(svc); err != nil {
					return err
				}
				t0 := time.Now()
				var rep *recovery.Report
				if tool == "vcr-recover" {
					rep, err = l.ours(svc)
				} else {
					err = l.runPeer(svc)
				}
				d := time.Since(t0).Seconds() * 1000
				if err != nil {
					return fmt.Errorf("%s %s round %d: %w", tool, svc.Name, i, err)
				}
				if tool == "vcr-recover" {
					ours = append(ours, d)
					switched = append(switched, rep.Seconds*1000)
					for _, s := range rep.Steps {
						steps[s.Name] = append(steps[s.Name], s.Seconds*1000)
					}
				} else {
					peer = append(peer, d)
				}
				if err := l.restore(svc); err != nil {
					return err
				}
			}
		}
		mode := svc.Standby.Mode
		results = append(results, benchres.Recover{Mode: mode.String(), OursMS: ours, SwitchedMS: switched, PeerMS: peer, StepsMS: steps})
		fmt.Printf("%-5s %-12s %10.1f %10.1f %10.1f\n", mode, "vcr-recover", median(ours), slices.Min(ours), slices.Max(ours))
		fmt.Printf("%-5s %-12s %10.1f %10.1f %10.1f\n", mode, "shell peer", median(peer), slices.Min(peer), slices.Max(peer))
		fmt.Printf("%-5s vcr-recover run start to DNS switched and confirmed (its report's seconds): median %.1f ms; the process then closes its Zabbix session\n",
			mode, median(switched))
		fmt.Printf("%-5s ratio peer/vcr-recover (medians): %.1fx\n", mode, median(peer)/median(ours))
		var names []string
		for n := range steps {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Printf("%-5s vcr-recover steps (median ms):", mode)
		for _, n := range names {
			fmt.Printf(" %s=%.1f", n, median(steps[n]))
		}
		fmt.Println()
	}
	if jsonOut != "" {
		return benchres.WriteJSON(jsonOut, results)
	}
	return nil
}

// prepare puts the service in the failed state: primary destroyed and reported down by
// the agent, name on the primary; cold: no container.
func (l *lab) prepare(svc *config.Service) error {
	if svc.Standby.Mode == config.ModeCold {
		lxc("delete", "--force", svc.Standby.Container)
	} else {
		lxc("start", svc.Standby.Container)
	}
	if err := virsh("destroy", svc.Name); err != nil {
		return err
	}
	u := svc.VMUUID
	h, _ := l.inv.Hypervisor(svc.Hypervisor)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		a, err := hypervisor.Dial(context.Background(), h)
		if err == nil {
			st, err := a.GuestState(u)
			a.Close()
			if err == nil && st.Down() {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("agent never reported %s down", svc.Name)
}

func (l *lab) ours(svc *config.Service) (*recovery.Report, error) {
	out, err := exec.Command(l.bin, "-config", l.invPath, "-service", svc.Name, "-json", "-log-level", "error").Output()
	var rep recovery.Report
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		return nil, fmt.Errorf("%v %v: %s", err, jerr, out)
	}
	if rep.ExitCode != 0 {
		return nil, fmt.Errorf("exit %d: %s", rep.ExitCode, rep.Message)
	}
	return &rep, nil
}

func (l *lab) runPeer(svc *config.Service) error {
	out, err := exec.Command(l.peer, svc.Name, svc.Standby.Container, svc.PrimaryAddress.String(), svc.VMUUID.Index()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// restore starts the primary and points the name back at it (not timed).
func (l *lab) restore(svc *config.Service) error {
	virsh("start", svc.Name)
	primary := svc.PrimaryAddress
	if got, err := l.dns.Lookup(context.Background(), svc.DNSName); err == nil && len(got) == 1 && got[0] != primary {
		if err := l.dns.Switch(context.Background(), svc.DNSName, got[0], primary); err != nil {
			return err
		}
	}
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.Get("http://" + svc.PrimaryAddress.String() + ":8080/"); err == nil {
			resp.Body.Close()
			os.RemoveAll(filepath.Join(l.inv.StateDir, "services", svc.Name+".json"))
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s primary does not serve again", svc.Name)
}

func virsh(args ...string) error {
	out, err := exec.Command("virsh", append([]string{"-c", os.Getenv("VCR_LAB_LIBVIRT_URI")}, args...)...).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "not running") && !strings.Contains(string(out), "already active") {
		return fmt.Errorf("virsh %v: %v: %s", args, err, out)
	}
	return nil
}

func lxc(args ...string) {
	cmd := exec.Command("lxc", args...)
	cmd.Env = append(os.Environ(), "LXD_DIR="+os.Getenv("VCR_LAB_LXD_STANDBY_DIR"), "LXD_CONF="+os.Getenv("VCR_LAB_LXD_CONF"))
	cmd.Run()
}

var median = benchres.Median
