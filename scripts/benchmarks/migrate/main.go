// Command migrate benchmarks moving a serving container from the lab's standby LXD
// daemon to big, side by side in one run on the same container: vcr-migrate, the stock
// way (lxc stop, lxc move to the remote, lxc start, then a DNS update) and lxc move
// --stateless of the running container (then a DNS update), for containers holding
// 100 MB and 1 GB of data. A client resolves the name at the lab DNS and connects every
// 10 ms; its longest run of failures is the downtime it saw. It prints figures; it
// asserts nothing. Run: eval "$(scripts/lab env)"; go run ./scripts/benchmarks/migrate
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/benchres"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/migration"
)

const (
	svc  = "mig-bench"
	seed = "mig-bench-seed"
)

func main() {
	sizes := flag.String("sizes", "100,1000", "container data sizes in MB, comma-separated")
	jsonOut := flag.String("json", "", "also write each move (figures and the client's polls) to this file")
	flag.Parse()
	if err := run(*sizes, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "bench-migrate:", err)
		os.Exit(1)
	}
}

type bench struct {
	invPath, bin, key string
	dns               *dnsupdate.Client
	dnsName           string
	inv               *config.Inventory
}

func run(sizes, jsonOut string) error {
	base := os.Getenv("VCR_LAB_INVENTORY")
	if base == "" {
		return fmt.Errorf("VCR_LAB_INVENTORY is not set: eval \"$(scripts/lab env)\"")
	}
	dir, err := os.MkdirTemp("", "bench-migrate")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{bin: filepath.Join(dir, "vcr-migrate"), invPath: filepath.Join(dir, "inv.yaml"), dnsName: svc + ".lab.vcrcovery.test."}
	if out, err := exec.Command("go", "build", "-o", b.bin, "./migrate").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(base)
	if err != nil {
		return err
	}
	text := strings.Replace(string(raw), "state_dir: ", "state_dir: "+dir+" #", 1)
	text += fmt.Sprintf(`  - name: %[1]s
    hypervisor: lab-kvm
    vm_uuid: 6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4b99
    dns_name: %[1]s.lab.vcrcovery.test.
    primary_address: 127.0.0.77
    probe: {ports: [8080], timeout: 10s}
    standby: {host: standby, mode: warm, container: %[1]s}
`, svc)
	if err := os.WriteFile(b.invPath, []byte(text), 0o600); err != nil {
		return err
	}
	if b.inv, err = config.Load(b.invPath); err != nil {
		return err
	}
	b.key = b.inv.DNS.TSIGKeyFile
	key, err := dnsupdate.ReadKeyFile(b.key)
	if err != nil {
		return err
	}
	b.dns = &dnsupdate.Client{Server: b.inv.DNS.Server.String(), Zone: b.inv.DNS.Zone, Key: key, TTL: 2}
	defer b.cleanup(true)

	fmt.Println("moving a serving busybox container standby -> big (dir pools), client every 10 ms")
	fmt.Printf("%-8s %-28s %12s %10s %s\n", "data", "method", "downtime_s", "total_s", "notes")
	var results []benchres.Migrate
	for _, s := range strings.Split(sizes, ",") {
		var mb int
		fmt.Sscan(s, &mb)
		if err := b.makeSeed(mb); err != nil {
			return err
		}
		for _, m := range []struct {
			key, name string
			f         func() (string, error)
		}{
			{"vcr-migrate", "vcr-migrate", b.ours},
			{"stock", "lxc stop/move/start + DNS", b.stock},
			{"stateless", "lxc move --stateless + DNS", b.stateless},
		} {
			if err := b.prepare(); err != nil {
				return err
			}
			c := b.startClient()
			t0 := time.Now()
			note, err := m.f()
			total := time.Since(t0)
			// The downtime ends at the client's first answer after the move, which can
			// come well after the method returns (the stock way's container still boots):
			// wait for it, bounded, rather than a fixed time that could end the run while
			// the client still fails and so count nothing.
			served := c.servedAfter(time.Now(), servedWithin)
			time.Sleep(100 * time.Millisecond)
			gap, fails, polls := c.finish(t0)
			switch {
			case err != nil:
				note = "FAILED: " + err.Error()
			case !served:
				err = fmt.Errorf("client not served again within %s", servedWithin)
				note = "FAILED: " + err.Error() + "; downtime counted to the end"
			}
			results = append(results, benchres.Migrate{SizeMB: mb, Method: m.key, Downtime: gap.Seconds(), Total: total.Seconds(),
				Note: note, Failed: err != nil, Polls: polls})
			fmt.Printf("%-8s %-28s %12.3f %10.2f %s (client failures %d)\n", fmt.Sprintf("%d MB", mb), m.name, gap.Seconds(), total.Seconds(), note, fails)
			b.cleanup(false)
		}
	}
	if jsonOut != "" {
		return benchres.WriteJSON(jsonOut, results)
	}
	return nil
}

func lxc(args ...string) (string, error) {
	cmd := exec.Command("lxc", args...)
	cmd.Env = append(os.Environ(), "LXD_DIR="+os.Getenv("VCR_LAB_LXD_STANDBY_DIR"), "LXD_CONF="+os.Getenv("VCR_LAB_LXD_CONF"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("lxc %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (b *bench) cleanup(all bool) {
	lxc("delete", "--force", svc)
	lxc("delete", "--force", "big:"+svc)
	if all {
		lxc("delete", "--force", seed)
	}
}

// makeSeed makes a stopped container holding mb MB of random data (random: rsync
// compresses), copied locally for each method.
func (b *bench) makeSeed(mb int) error {
	lxc("delete", "--force", seed)
	if _, err := lxc("launch", "busybox", seed, "-q"); err != nil {
		return err
	}
	if _, err := lxc("exec", seed, "--", "dd", "if=/dev/urandom", "of=/data.bin", "bs=1M", fmt.Sprint("count=", mb)); err != nil {
		return err
	}
	_, err := lxc("stop", "--force", seed)
	return err
}

func (b *bench) ip(remote string) (netip.Addr, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := lxc("list", remote+svc, "-c", "4", "--format", "csv")
		if a, err := netip.ParseAddr(strings.Fields(out + " x")[0]); err == nil {
			return a, nil
		}
		if time.Now().After(deadline) {
			return netip.Addr{}, fmt.Errorf("no address for %s%s", remote, svc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// setDNS points the name at ip alone, as an operator's nsupdate would.
func (b *bench) setDNS(ip netip.Addr) error {
	host, port := b.inv.DNS.Server.Host(), b.inv.DNS.Server.Port()
	cmd := exec.Command("nsupdate", "-k", b.key)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("server %s %d\nzone %s\nupdate delete %s A\nupdate add %s 2 A %s\nsend\n",
		host, port, b.inv.DNS.Zone, b.dnsName, b.dnsName, ip))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nsupdate: %v %s", err, out)
	}
	return nil
}

func (b *bench) prepare() error {
	b.cleanup(false)
	if _, err := lxc("copy", seed, svc); err != nil {
		return err
	}
	if _, err := lxc("start", svc); err != nil {
		return err
	}
	ip, err := b.ip("")
	if err != nil {
		return err
	}
	if err := b.setDNS(ip); err != nil {
		return err
	}
	for i := 0; i < 100; i++ {
		if _, err := get(ip); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s does not serve", svc)
}

func (b *bench) ours() (string, error) {
	out, err := exec.Command(b.bin, "-config", b.invPath, "-service", svc, "-to", "big", "-json").Output()
	var rep migration.Report
	json.Unmarshal(out, &rep)
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, rep.Message)
	}
	return fmt.Sprintf("its report: downtime %.3f s, cut-over %.3f s", rep.DowntimeSeconds, rep.CutoverSeconds), nil
}

func (b *bench) stock() (string, error) {
	for _, a := range [][]string{{"stop", svc}, {"move", svc, "big:" + svc}, {"start", "big:" + svc}} {
		if _, err := lxc(a...); err != nil {
			return "", err
		}
	}
	return "graceful stop", b.follow()
}

func (b *bench) stateless() (string, error) {
	if _, err := lxc("move", svc, "big:"+svc, "--stateless"); err != nil {
		return "", err
	}
	if _, err := lxc("start", "big:"+svc); err != nil && !strings.Contains(err.Error(), "already running") {
		return "", err
	}
	return "", b.follow()
}

// follow points the name at the container on big once it has its address.
func (b *bench) follow() error {
	ip, err := b.ip("big:")
	if err != nil {
		return err
	}
	return b.setDNS(ip)
}

func get(ip netip.Addr) (string, error) {
	c := &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + net.JoinHostPort(ip.String(), "8080") + "/")
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	return resp.Status, nil
}

// servedWithin bounds the wait for the client's first answer after a move.
const servedWithin = 20 * time.Second

type client struct {
	mu    sync.Mutex
	down  downtime
	polls []poll
	stop  chan struct{}
	done  chan struct{}
}

// downtime keeps the longest run of failed polls, from the start of its first failed
// attempt to the start of the next good one; a run still open at the end counts to the
// end.
type downtime struct {
	gap       time.Duration
	fails     int
	failSince time.Time
	lastOK    time.Time
}

func (d *downtime) observe(at time.Time, ok bool) {
	switch {
	case !ok:
		d.fails++
		if d.failSince.IsZero() {
			d.failSince = at
		}
	case !d.failSince.IsZero():
		d.gap = max(d.gap, at.Sub(d.failSince))
		d.failSince = time.Time{}
	}
	if ok {
		d.lastOK = at
	}
}

// longest is the longest run, the open one counted up to end.
func (d *downtime) longest(end time.Time) time.Duration {
	if !d.failSince.IsZero() {
		return max(d.gap, end.Sub(d.failSince))
	}
	return d.gap
}

// startClient: every 10 ms, resolve at the authoritative server and GET.
func (b *bench) startClient() *client {
	c := &client{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			select {
			case <-c.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			t0 := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			addrs, err := b.dns.Lookup(ctx, b.dnsName)
			cancel()
			if err == nil && len(addrs) > 0 {
				_, err = get(addrs[0])
			} else if err == nil {
				err = fmt.Errorf("no address")
			}
			c.mu.Lock()
			c.polls = append(c.polls, poll{t0, err == nil})
			c.down.observe(t0, err == nil)
			c.mu.Unlock()
		}
	}()
	return c
}

// servedAfter waits until a poll started at or after t has been answered, at most
// within; false if none was.
func (c *client) servedAfter(t time.Time, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		c.mu.Lock()
		ok := !c.down.lastOK.Before(t)
		c.mu.Unlock()
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type poll struct {
	at time.Time
	ok bool
}

// finish stops the client and returns the downtime, the failed polls and every poll
// with its time from start.
func (c *client) finish(start time.Time) (time.Duration, int, []benchres.Poll) {
	close(c.stop)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	var polls []benchres.Poll
	for _, p := range c.polls {
		polls = append(polls, benchres.Poll{T: p.at.Sub(start).Seconds(), OK: p.ok})
	}
	return c.down.longest(time.Now()), c.down.fails, polls
}
