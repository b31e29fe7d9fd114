// Command e2e measures, on the lab, the time from `virsh destroy` of a primary VM until a
// client is served again: a client that resolves the service name at the lab's DNS (no
// cache, as with a 2 s TTL) and fetches its page every 10 ms, as a user would. Paths:
//
//	action  the shutoff state reaches Zabbix, the trigger fires, the action runs
//	        vcr-recover on the lab agent (the seed papers' design);
//	fast    vcr-trapd receives the libvirt trap and runs recover through script.execute.
//
// With -trapd (the default) this program runs bin/vcr-trapd in listen mode on the lab's
// trap sink, where the lab's libvirt-snmp agent sends its traps: fast_path off in its
// inventory for the action path, on for the fast path. With -trapd=false it sends the
// shutoff state itself, as trapd would, and says so. It prints figures; it asserts
// nothing. Run: eval "$(scripts/lab env)"; scripts/lab provision; go run ./scripts/bench/e2e
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

func main() {
	rounds := flag.Int("rounds", 3, "rounds per path")
	paths := flag.String("paths", "action,fast", "comma-separated: action, fast (fast needs -trapd)")
	trapdRunning := flag.Bool("trapd", true, "run bin/vcr-trapd on the lab's trap sink (else this program sends the states)")
	flag.Parse()
	if err := run(*rounds, strings.Split(*paths, ","), *trapdRunning); err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		os.Exit(1)
	}
}

func run(rounds int, paths []string, trapdRunning bool) error {
	inv, err := config.Load(os.Getenv("VCR_LAB_INVENTORY"))
	if err != nil {
		return fmt.Errorf("%w (eval \"$(scripts/lab env)\" first)", err)
	}
	svc, _ := inv.Service("web1")
	hyp, _ := inv.Hypervisor(svc.Hypervisor)
	d := &dnsupdate.Client{Server: inv.DNS.Server.String(), Zone: inv.DNS.Zone, Key: inv.DNS.TSIGKey, TTL: 2}
	sender := &zabbix.Sender{Addr: inv.Zabbix.Server.String()}
	ctx := context.Background()
	fmt.Printf("destroy -> client served by the standby container, service %s (warm), %d rounds per path\n", svc.Name, rounds)
	if !trapdRunning {
		fmt.Println("(no -trapd: this program sends the shutoff state to Zabbix right after the destroy, as trapd would)")
	}
	fmt.Printf("%-7s %10s %10s %10s\n", "path", "median_s", "min_s", "max_s")
	for _, path := range paths {
		if trapdRunning {
			stop, err := startTrapd(path == "fast")
			if err != nil {
				return err
			}
			defer stop()
		} else if path == "fast" {
			return fmt.Errorf("the fast path needs -trapd")
		}
		var took []float64
		for i := 0; i < rounds; i++ {
			if err := restore(ctx, d, svc); err != nil {
				return err
			}
			// A fresh problem each round: the previous one is resolved by state 1.
			sender.Send(ctx, []zabbix.Value{{Host: hyp.ZabbixHost, Key: zabbix.KeyGuestState(svc.VMUUID.String()), Value: "1"}})
			time.Sleep(4 * time.Second) // let the resolution pass the escalator
			served := make(chan time.Time, 1)
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			go client(cctx, inv.DNS.Server.String(), svc.DNSName, served)
			t0 := time.Now()
			if out, err := exec.Command("virsh", "-c", os.Getenv("VCR_LAB_LIBVIRT_URI"), "destroy", svc.Name).CombinedOutput(); err != nil {
				cancel()
				return fmt.Errorf("virsh destroy: %v: %s", err, out)
			}
			if !trapdRunning {
				if _, err := sender.Send(ctx, []zabbix.Value{{Host: hyp.ZabbixHost, Key: zabbix.KeyGuestState(svc.VMUUID.String()), Value: "5"}}); err != nil {
					cancel()
					return fmt.Errorf("send state: %w", err)
				}
			}
			select {
			case t1 := <-served:
				took = append(took, t1.Sub(t0).Seconds())
			case <-cctx.Done():
				cancel()
				return fmt.Errorf("%s round %d: the client was not served by the container within 60 s", path, i)
			}
			cancel()
		}
		fmt.Printf("%-7s %10.2f %10.2f %10.2f\n", path, median(took), slices.Min(took), slices.Max(took))
		if trapdRunning {
			stopTrapd()
		}
	}
	return restore(ctx, d, svc)
}

var trapdCmd *exec.Cmd

// startTrapd runs bin/vcr-trapd on a copy of the lab inventory with web1's fast path on
// or off.
func startTrapd(fast bool) (func(), error) {
	b, err := os.ReadFile(os.Getenv("VCR_LAB_INVENTORY"))
	if err != nil {
		return nil, err
	}
	text := string(b)
	if !fast {
		text = strings.ReplaceAll(text, "fast_path: true", "fast_path: false")
	}
	f, err := os.CreateTemp("", "bench-e2e-*.yaml")
	if err != nil {
		return nil, err
	}
	f.WriteString(text)
	f.Close()
	if out, err := exec.Command("make", "-s", "bin/vcr-trapd").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build trapd: %v: %s", err, out)
	}
	trapdCmd = exec.Command("bin/vcr-trapd", "-config", f.Name(), "-mode", "listen", "-log-level", "warn")
	trapdCmd.Stderr = os.Stderr
	if err := trapdCmd.Start(); err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	return func() { stopTrapd(); os.Remove(f.Name()) }, nil
}

func stopTrapd() {
	if trapdCmd != nil && trapdCmd.Process != nil {
		trapdCmd.Process.Signal(os.Interrupt)
		trapdCmd.Wait()
		trapdCmd = nil
	}
}

// client resolves and fetches until the page comes from a standby container.
func client(ctx context.Context, server, name string, served chan<- time.Time) {
	hc := &http.Client{Timeout: 200 * time.Millisecond}
	for ctx.Err() == nil {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		if r, _, err := new(dns.Client).ExchangeContext(ctx, m, server); err == nil {
			for _, rr := range r.Answer {
				a, ok := rr.(*dns.A)
				if !ok {
					continue
				}
				resp, err := hc.Get("http://" + net.JoinHostPort(a.A.String(), "8080") + "/")
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if strings.Contains(string(b), "busybox") {
					served <- time.Now()
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// restore starts the primary, points the name back at it and forgets recover's state.
func restore(ctx context.Context, d *dnsupdate.Client, svc *config.Service) error {
	exec.Command("virsh", "-c", os.Getenv("VCR_LAB_LIBVIRT_URI"), "start", svc.Name).Run()
	primary := svc.PrimaryAddress
	if got, err := d.Lookup(ctx, svc.DNSName); err == nil && len(got) == 1 && got[0] != primary {
		if err := d.Switch(ctx, svc.DNSName, got[0], primary); err != nil {
			return err
		}
	}
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := hc.Get("http://" + svc.PrimaryAddress.String() + ":8080/"); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return fmt.Errorf("%s does not serve again", svc.Name)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
