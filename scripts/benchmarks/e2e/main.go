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
// nothing. Run: eval "$(scripts/lab env)"; scripts/lab provision; go run ./scripts/benchmarks/e2e
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/vcrcovery/vcrcovery/internal/benchres"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

func main() {
	rounds := flag.Int("rounds", 3, "rounds per path")
	paths := flag.String("paths", "action,fast", "comma-separated: action, fast (fast needs -trapd)")
	trapdRunning := flag.Bool("trapd", true, "run bin/vcr-trapd on the lab's trap sink (else this program sends the states)")
	jsonOut := flag.String("json", "", "also write each round (timeline, recover's steps, the client's polls) to this file")
	flag.Parse()
	if err := run(*rounds, strings.Split(*paths, ","), *trapdRunning, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		os.Exit(1)
	}
}

func run(rounds int, paths []string, trapdRunning bool, jsonOut string) error {
	inv, err := config.Load(os.Getenv("VCR_LAB_INVENTORY"))
	if err != nil {
		return fmt.Errorf("%w (eval \"$(scripts/lab env)\" first)", err)
	}
	svc, _ := inv.Service("web1")
	hyp, _ := inv.Hypervisor(svc.Hypervisor)
	standby, _ := inv.Standby(svc.Standby.Host)
	d := &dnsupdate.Client{Server: inv.DNS.Server.String(), Zone: inv.DNS.Zone, Key: inv.DNS.TSIGKey, TTL: 2}
	sender := &zabbix.Sender{Addr: inv.Zabbix.Server.String()}
	ctx := context.Background()
	// recover's per-step figures are read back from the items it reports to, as a
	// Zabbix user would see them.
	api, err := zabbix.Login(ctx, inv.Zabbix)
	if err != nil {
		return fmt.Errorf("zabbix login: %w", err)
	}
	defer api.Logout(ctx)
	fmt.Printf("destroy -> client served by the standby container, service %s (warm), %d rounds per path\n", svc.Name, rounds)
	if !trapdRunning {
		fmt.Println("(no -trapd: this program sends the shutoff state to Zabbix right after the destroy, as trapd would)")
	}
	fmt.Printf("%-7s %10s %10s %10s   %s\n", "path", "median_s", "min_s", "max_s", "per round: dns switched / served (recover's own seconds)")
	var results []benchres.E2ERound
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
		var detail []string
		for i := 0; i < rounds; i++ {
			if err := restore(ctx, d, svc); err != nil {
				return err
			}
			// A fresh problem each round: the previous one is resolved by state 1.
			sender.Send(ctx, []zabbix.Value{{Host: hyp.ZabbixHost, Key: zabbix.KeyGuestState(svc.VMUUID.String()), Value: "1"}})
			time.Sleep(4 * time.Second) // let the resolution pass the escalator
			// The client starts a little before the destroy: the plot shows the
			// primary serving first.
			t0 := time.Now().Add(200 * time.Millisecond)
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			res := make(chan clientRun, 1)
			go func() { res <- client(cctx, inv.DNS.Server.String(), svc.DNSName, svc.PrimaryAddress, t0) }()
			time.Sleep(time.Until(t0))
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
			c := <-res
			cancel()
			if c.served == 0 {
				return fmt.Errorf("%s round %d: the client was not served by the container within 60 s", path, i)
			}
			r := benchres.E2ERound{Path: path, Seconds: c.served.Seconds(), DNSSeconds: c.dns.Seconds(), Polls: c.polls}
			r.RecoverSeconds, r.StepsSeconds, err = recoverSteps(ctx, api, standby.ZabbixHost, svc.Name, t0)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench-e2e: %s round %d: no per-step figures: %v\n", path, i, err)
			}
			results = append(results, r)
			took = append(took, r.Seconds)
			detail = append(detail, fmt.Sprintf("%.2f/%.2f (%.3f)", r.DNSSeconds, r.Seconds, r.RecoverSeconds))
		}
		fmt.Printf("%-7s %10.2f %10.2f %10.2f   %s\n", path, median(took), slices.Min(took), slices.Max(took), strings.Join(detail, " "))
		if trapdRunning {
			stopTrapd()
		}
	}
	if jsonOut != "" {
		if err := benchres.WriteJSON(jsonOut, results); err != nil {
			return err
		}
	}
	return restore(ctx, d, svc)
}

// recoverSteps waits for the values of the run vcr-recover reported after t0
// (vcr.recover.duration and the per-step items on the standby's Zabbix host) and
// returns them, in seconds.
func recoverSteps(ctx context.Context, api *zabbix.API, host, service string, t0 time.Time) (float64, map[string]float64, error) {
	keys := []string{zabbix.KeyRecoverDuration(service)}
	for _, s := range benchres.TimelineSteps {
		keys = append(keys, zabbix.KeyRecoverStep(service, s))
	}
	// The history syncer writes a value about a second after the trapper got it.
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		items, err := api.ItemsOfHost(ctx, host, keys...)
		if err != nil {
			return 0, nil, err
		}
		var total float64
		steps := map[string]float64{}
		fresh := false
		for _, it := range items {
			v, _ := strconv.ParseFloat(it.LastValue, 64)
			if it.Key == keys[0] {
				total, fresh = v, int64(it.LastClock) >= t0.Unix()
				continue
			}
			for _, s := range benchres.TimelineSteps {
				if it.Key == zabbix.KeyRecoverStep(service, s) && int64(it.LastClock) >= t0.Unix() {
					steps[s] = v
				}
			}
		}
		if fresh {
			return total, steps, nil
		}
	}
	return 0, nil, fmt.Errorf("%s has no value of this run in Zabbix after 15 s", keys[0])
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

type clientRun struct {
	polls       []benchres.Poll
	dns, served time.Duration // from t0; zero: not seen
}

// client resolves at the authoritative server and fetches the page every 10 ms from t0
// on, recording each poll, until a second after the page first came from the standby
// container (busybox's httpd) or ctx ends.
func client(ctx context.Context, server, name string, primary netip.Addr, t0 time.Time) clientRun {
	hc := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	var c clientRun
	for ctx.Err() == nil && (c.served == 0 || time.Since(t0) < c.served+time.Second) {
		start := time.Since(t0)
		p := benchres.Poll{T: start.Seconds()}
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		if r, _, err := new(dns.Client).ExchangeContext(ctx, m, server); err == nil {
			for _, rr := range r.Answer {
				a, ok := rr.(*dns.A)
				if !ok {
					continue
				}
				if ip, _ := netip.AddrFromSlice(a.A.To4()); ip != primary && c.dns == 0 && start > 0 {
					c.dns = start
				}
				resp, err := hc.Get("http://" + net.JoinHostPort(a.A.String(), "8080") + "/")
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				p.OK, p.From = true, "primary"
				if strings.Contains(string(b), "busybox") {
					p.From = "container"
					if c.served == 0 {
						c.served = time.Since(t0)
					}
				}
				break
			}
		}
		c.polls = append(c.polls, p)
		time.Sleep(10 * time.Millisecond)
	}
	return c
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

var median = benchres.Median
