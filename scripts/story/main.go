// Command story is the second half of scripts/demo: on the running lab, it shows the
// chain the product exists for, reading each timeline from what the components
// recorded. It provisions the lab's Zabbix with a demo copy of the lab inventory (web1
// recovered through the Zabbix action, web2 through trapd's fast path, and a pooled
// service "shop" when the inventory has a pool), starts vcr-trapd, vcr-sender and the
// pool agents as daemons, then destroys web1's and web2's primary VMs, moves web1's
// container to the big standby while a client runs, kills the pool owner's host, and
// fails everything back. Run by scripts/demo; alone: eval "$(scripts/lab env)"; go run
// ./scripts/story.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// demo is the state of one run.
type demo struct {
	ctx    context.Context
	inv    *config.Inventory
	path   string // the demo inventory
	dir    string // logs
	api    *zabbix.API
	dns    *dnsupdate.Client
	daemon []*exec.Cmd
	agents map[string]*exec.Cmd
	rows   [][2]string // the summary table
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n== "+format+"\n", args...) }

func run() error {
	d, err := setup()
	if err != nil {
		return err
	}
	defer d.stop()
	if err := d.show(); err != nil {
		return err
	}
	web1, _ := d.inv.Service("web1")
	web2, _ := d.inv.Service("web2")
	if err := d.failover(web1, "the Zabbix action (trigger -> action -> vcr-recover on the standby's agent)"); err != nil {
		return err
	}
	if err := d.failover(web2, "trapd's fast path (trap -> vcr-trapd -> script.execute -> vcr-recover)"); err != nil {
		return err
	}
	if err := d.migrate(web1); err != nil {
		return err
	}
	if d.inv.Pool != nil {
		if err := d.takeover(); err != nil {
			return err
		}
	}
	if err := d.failback(web1, web2); err != nil {
		return err
	}
	d.summary()
	return nil
}

// setup writes the demo inventory, provisions Zabbix with it and starts the daemons.
func setup() (*demo, error) {
	labInv := os.Getenv("VCR_LAB_INVENTORY")
	b, err := os.ReadFile(labInv)
	if err != nil {
		return nil, fmt.Errorf("%w (eval \"$(scripts/lab env)\" first)", err)
	}
	dir, err := os.MkdirTemp("", "vcr-demo-")
	if err != nil {
		return nil, err
	}
	text := strings.Replace(string(b), "    fast_path: true\n", "    fast_path: false\n", 1)
	text = strings.Replace(text, "  - name: web2\n", "  - name: web2\n    fast_path: true\n", 1)
	pooled := strings.Contains(text, "\npool:\n")
	if pooled {
		// A pool of its own per run: no committed snapshot of an earlier run is seen.
		text = strings.Replace(text, "pool:\n  name: lab\n", fmt.Sprintf("pool:\n  name: demo%d\n", time.Now().Unix()), 1)
		text = strings.Replace(text, "  snapshot_period: 30s\n", "  snapshot_period: 5s\n", 1)
		text = strings.Replace(text, "services:\n", "services:\n  - {name: shop, dns_name: shop.lab.vcrcovery.test., probe: {ports: [8080]}, pool: {replicas: 1, pin: spare, storage_pool: cow, backup: {kind: image, source: busybox}}}\n", 1)
	}
	path := filepath.Join(dir, "demo.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return nil, err
	}
	inv, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	d := &demo{ctx: ctx, inv: inv, path: path, dir: dir, agents: map[string]*exec.Cmd{},
		dns: inv.DNSClient()}

	step("provision Zabbix with the demo inventory (web1: action, web2: fast path%s)", map[bool]string{true: ", pooled service shop"}[pooled])
	// The Zabbix agent runs the global scripts' commands as written: wrappers that run
	// this checkout's binaries with the demo inventory, as `scripts/lab provision` does
	// with the lab's.
	repo, _ := os.Getwd()
	for _, w := range []struct{ name, env, bin, script string }{
		{"vcr-zabbix-recover", "VCR_RECOVER", "vcr-recover", "zabbix-recover"},
		{"vcr-zabbix-migrate", "VCR_MIGRATE", "vcr-migrate", "zabbix-migrate"},
	} {
		body := fmt.Sprintf("#!/bin/sh\nVCR_CONFIG=%s %s=%s/bin/%s exec %s/scripts/%s \"$@\"\n", path, w.env, repo, w.bin, repo, w.script)
		if err := os.WriteFile(filepath.Join(dir, w.name), []byte(body), 0o755); err != nil {
			return nil, err
		}
	}
	if out, err := exec.Command("bin/vcr-provision", "-config", path, "-log-level", "warn",
		"-recover-command", filepath.Join(dir, "vcr-zabbix-recover"), "-migrate-command", filepath.Join(dir, "vcr-zabbix-migrate")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("vcr-provision: %v\n%s", err, out)
	}
	// The trapper refuses values of items its configuration cache does not hold yet.
	if err := reloadCache(); err != nil {
		return nil, err
	}
	if d.api, err = zabbix.Login(ctx, inv.Zabbix); err != nil {
		return nil, err
	}
	fmt.Println("provisioned; Zabbix configuration cache reloaded")

	step("start the daemons (logs in %s)", dir)
	for _, c := range [][]string{
		{"bin/vcr-trapd", "-config", path, "-mode", "listen"},
		{"bin/vcr-sender", "-config", path},
	} {
		cmd, err := d.start(filepath.Base(c[0]), c...)
		if err != nil {
			return nil, err
		}
		d.daemon = append(d.daemon, cmd)
		fmt.Printf("%s (pid %d)\n", strings.Join(c, " "), cmd.Process.Pid)
	}
	if pooled {
		for _, h := range inv.PoolHosts() {
			cmd, err := d.start("pool-"+h.Name, "bin/vcr-migrate", "-config", path, "-pool", "-host", h.Name)
			if err != nil {
				return nil, err
			}
			d.agents[h.Name] = cmd
		}
		fmt.Printf("vcr-migrate -pool -host on %d pool hosts\n", len(d.agents))
	}
	time.Sleep(time.Second)
	if err := d.waitGuestItems(); err != nil {
		return nil, err
	}
	return d, nil
}

// reloadCache makes the Zabbix server reload its configuration cache now, and gives
// it a second.
func reloadCache() error {
	if out, err := exec.Command("zabbix_server", "-c", os.Getenv("VCR_LAB_ZABBIX_SERVER_CONF"), "-R", "config_cache_reload").CombinedOutput(); err != nil {
		return fmt.Errorf("zabbix_server -R config_cache_reload: %v\n%s", err, out)
	}
	time.Sleep(time.Second)
	return nil
}

// waitGuestItems waits until Zabbix's low-level discovery has made every protected
// VM's state item (from vcr-sender's discovery value: on a fresh lab they do not
// exist yet), then reloads the configuration cache so the trapper takes their values.
func (d *demo) waitGuestItems() error {
	fresh := false
	for i := range d.inv.Services {
		svc := &d.inv.Services[i]
		hyp, ok := d.inv.Hypervisor(svc.Hypervisor)
		if !ok {
			continue
		}
		key := zabbix.KeyGuestState(svc.VMUUID.String())
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			items, err := d.api.ItemsOfHost(d.ctx, hyp.ZabbixHost, key)
			if err != nil {
				return fmt.Errorf("look up %s's state item: %w", svc.Name, err)
			}
			if len(items) > 0 {
				break
			}
			if !fresh {
				fmt.Println("waiting for Zabbix's low-level discovery to create the guests' items (a fresh lab)")
				fresh = true
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s %s: no item 90 s after vcr-sender's discovery (see vcr-sender.log)", hyp.ZabbixHost, key)
			}
		}
	}
	if fresh {
		return reloadCache()
	}
	return nil
}

// start runs a daemon with its output in the demo folder.
func (d *demo) start(name string, args ...string) (*exec.Cmd, error) {
	f, err := os.Create(filepath.Join(d.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	return cmd, cmd.Start()
}

// stop ends the daemons (the pool agents step down) and removes the pool's leftovers.
func (d *demo) stop() {
	for _, c := range append(d.daemon, values(d.agents)...) {
		if c.ProcessState == nil {
			c.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, c := range append(d.daemon, values(d.agents)...) {
		if c.ProcessState == nil {
			c.Wait()
		}
	}
	if len(d.agents) > 0 {
		for _, h := range d.inv.PoolHosts() {
			lxc(h.Name, "delete", "--force", "shop")
		}
		m := new(dns.Msg)
		m.SetUpdate(d.inv.DNS.Zone)
		m.RemoveName([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: "shop." + d.inv.DNS.Zone, Rrtype: dns.TypeANY, Class: dns.ClassANY}}})
		m.SetTsig(d.inv.DNS.TSIGKey.Name, d.inv.DNS.TSIGKey.Algorithm, 300, time.Now().Unix())
		c := &dns.Client{TsigSecret: map[string]string{d.inv.DNS.TSIGKey.Name: d.inv.DNS.TSIGKey.Secret.Reveal()}}
		c.ExchangeContext(d.ctx, m, d.inv.DNS.Server.String())
	}
	if len(d.agents) > 0 && d.api != nil {
		// The pooled service's Zabbix host, which the lab's inventory does not have.
		if id, err := d.api.HostID(d.ctx, "shop"); err == nil {
			d.api.Call(d.ctx, "host.delete", []string{id}, nil)
		}
	}
	// The lab's own inventory again (the demo's fast-path script for web2 stays,
	// unused by the lab's trapd).
	exec.Command("scripts/lab", "provision").Run()
	if d.api != nil {
		d.api.Logout(d.ctx)
	}
}

func values(m map[string]*exec.Cmd) []*exec.Cmd {
	var out []*exec.Cmd
	for _, c := range m {
		out = append(out, c)
	}
	return out
}

// lxc runs lxc against a lab LXD daemon (VCR_LAB_LXD_<NAME>_DIR from scripts/lab env).
func lxc(daemon string, args ...string) error {
	cmd := exec.Command("lxc", args...)
	cmd.Env = append(os.Environ(), "LXD_DIR="+os.Getenv("VCR_LAB_LXD_"+strings.ToUpper(daemon)+"_DIR"))
	return cmd.Run()
}

// show prints each protected service answering through its DNS name.
func (d *demo) show() error {
	step("the protected services, through their DNS names at the lab's BIND")
	for _, s := range d.inv.Services {
		ip, body, err := d.get(s.DNSName)
		if err != nil {
			return fmt.Errorf("%s does not answer: %w", s.DNSName, err)
		}
		fmt.Printf("%-28s -> %-12s %s\n", s.DNSName, ip, firstLine(body))
	}
	return nil
}

// get resolves name at the authoritative server and fetches its page.
func (d *demo) get(name string) (netip.Addr, string, error) {
	ctx, cancel := context.WithTimeout(d.ctx, time.Second)
	defer cancel()
	addrs, err := d.dns.Lookup(ctx, name)
	if err != nil || len(addrs) != 1 {
		return netip.Addr{}, "", fmt.Errorf("%s resolves to %v (%v)", name, addrs, err)
	}
	hc := &http.Client{Timeout: 300 * time.Millisecond}
	resp, err := hc.Get("http://" + addrs[0].String() + ":8080/")
	if err != nil {
		return addrs[0], "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return addrs[0], string(b), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// poll is a client: every 10 ms it resolves name and fetches the page, until stop.
type poll struct {
	at     []time.Time
	ok     []bool
	from   []netip.Addr
	stopCh chan struct{}
	done   chan struct{}
}

func (d *demo) client(name string) *poll {
	p := &poll{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stopCh:
				return
			case <-time.After(10 * time.Millisecond):
			}
			ip, _, err := d.get(name)
			p.at, p.ok, p.from = append(p.at, time.Now()), append(p.ok, err == nil), append(p.from, ip)
		}
	}()
	return p
}

func (p *poll) stop() { close(p.stopCh); <-p.done }

// firstServed is the first successful request from an address other than old, after t0.
func (p *poll) firstServed(t0 time.Time, old netip.Addr) (time.Time, netip.Addr, bool) {
	for i := range p.at {
		if p.at[i].After(t0) && p.ok[i] && p.from[i] != old {
			return p.at[i], p.from[i], true
		}
	}
	return time.Time{}, netip.Addr{}, false
}

// longestGap is the longest time between two answered requests, in seconds: what a
// user saw without service (a request to a frozen container hangs rather than fails).
func (p *poll) longestGap() float64 {
	var worst time.Duration
	var last time.Time
	for i := range p.at {
		if p.ok[i] {
			if !last.IsZero() {
				worst = max(worst, p.at[i].Sub(last))
			}
			last = p.at[i]
		}
	}
	return worst.Seconds()
}

// waitServed waits for the client to be served from an address other than old.
func (d *demo) waitServed(p *poll, t0 time.Time, old netip.Addr, within time.Duration) (time.Time, netip.Addr, error) {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if t, ip, ok := p.firstServed(t0, old); ok {
			return t, ip, nil
		}
	}
	return time.Time{}, netip.Addr{}, fmt.Errorf("no client request served from a new address within %s", within)
}

// event is one line of a timeline.
type event struct {
	at   time.Time
	what string
	// coarse: at is a whole second (Zabbix's alert clock); it happened within the
	// second after.
	coarse bool
}

// offset prints when e happened after t0.
func (e event) offset(t0 time.Time) string {
	a := e.at.Sub(t0).Seconds()
	if e.coarse {
		return fmt.Sprintf("+%.1f..%.1f s", max(a, 0), a+1)
	}
	return fmt.Sprintf("+%6.2f s", a)
}

// failover destroys svc's primary VM and prints the timeline of its recovery.
func (d *demo) failover(svc *config.Service, path string) error {
	step("destroy %s's primary VM (%s standby); recovery by %s", svc.Name, svc.Standby.Mode, path)
	// The state item must say what libvirt says now: a problem left open by an earlier
	// run (its item still "shut off") would swallow this one's trigger.
	if err := d.syncState(svc); err != nil {
		return err
	}
	p := d.client(svc.DNSName)
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	if out, err := exec.Command("virsh", "-c", os.Getenv("VCR_LAB_LIBVIRT_URI"), "destroy", svc.Name).CombinedOutput(); err != nil {
		p.stop()
		return fmt.Errorf("virsh destroy %s: %v: %s", svc.Name, err, out)
	}
	served, ip, err := d.waitServed(p, t0, svc.PrimaryAddress, 60*time.Second)
	p.stop()
	if err != nil {
		return fmt.Errorf("%s: %w", svc.Name, err)
	}
	time.Sleep(1500 * time.Millisecond) // recover's report reaches Zabbix after the switch
	ev := []event{{at: t0, what: "virsh destroy " + svc.Name}}
	ev = append(ev, d.zabbixEvents(svc, t0)...)
	ev = append(ev, d.recoverSteps(svc, t0)...)
	for i := range p.at {
		if p.at[i].After(t0) && p.from[i].IsValid() && p.from[i] != svc.PrimaryAddress {
			ev = append(ev, event{at: p.at[i], what: fmt.Sprintf("the authoritative DNS answers %s for %s", p.from[i], svc.DNSName)})
			break
		}
	}
	ev = append(ev, event{at: served, what: fmt.Sprintf("first client request served by the container at %s", ip)})
	mid := func(e event) time.Time {
		if e.coarse {
			return e.at.Add(500 * time.Millisecond)
		}
		return e.at
	}
	sort.SliceStable(ev, func(i, j int) bool { return mid(ev[i]).Before(mid(ev[j])) })
	for _, e := range ev {
		fmt.Printf("  %-14s %s\n", e.offset(t0), e.what)
	}
	d.rows = append(d.rows, [2]string{fmt.Sprintf("%s (%s) by %s", svc.Name, svc.Standby.Mode, strings.SplitN(path, " (", 2)[0]),
		fmt.Sprintf("client served again %.2f s after the destroy", served.Sub(t0).Seconds())})
	return nil
}

// syncState sends svc's guest state as libvirt reports it (virsh domstate) to its
// item, and waits for Zabbix to close a problem that a stale "shut off" kept open.
func (d *demo) syncState(svc *config.Service) error {
	out, err := exec.Command("virsh", "-c", os.Getenv("VCR_LAB_LIBVIRT_URI"), "domstate", svc.Name).Output()
	if err != nil {
		return fmt.Errorf("virsh domstate %s: %w", svc.Name, err)
	}
	if strings.TrimSpace(string(out)) != "running" {
		return fmt.Errorf("%s's primary is %s, not running: run scripts/demo again after `virsh start %s`", svc.Name, bytes.TrimSpace(out), svc.Name)
	}
	hyp, _ := d.inv.Hypervisor(svc.Hypervisor)
	s := &zabbix.Sender{Addr: d.inv.Zabbix.Server.String()}
	if _, err := s.Send(d.ctx, []zabbix.Value{{Host: hyp.ZabbixHost, Key: zabbix.KeyGuestState(svc.VMUUID.String()), Value: "1"}}); err != nil {
		return fmt.Errorf("send %s's state: %w", svc.Name, err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var problems []struct{ Name string }
		if err := d.api.Call(d.ctx, "problem.get", map[string]any{"output": []string{"name"}, "source": 0, "object": 0}, &problems); err != nil {
			return err
		}
		open := false
		for _, p := range problems {
			open = open || strings.HasPrefix(p.Name, "VM "+svc.Name+" is ")
		}
		if !open {
			return nil
		}
	}
	fmt.Printf("  (a problem of %s is still open in Zabbix; going on)\n", svc.Name)
	return nil
}

// zabbixEvents reads, from the Zabbix API, the trap's value, the problems and the
// remote commands that followed t0.
func (d *demo) zabbixEvents(svc *config.Service, t0 time.Time) []event {
	var out []event
	since := strconv.FormatInt(t0.Unix(), 10)
	var items []struct {
		ItemID string `json:"itemid"`
	}
	hyp, _ := d.inv.Hypervisor(svc.Hypervisor)
	d.api.Call(d.ctx, "item.get", map[string]any{"output": []string{"itemid"}, "host": hyp.ZabbixHost,
		"filter": map[string]any{"key_": zabbix.KeyGuestState(svc.VMUUID.String())}}, &items)
	if len(items) == 1 {
		var hist []struct{ Clock, NS, Value string }
		d.api.Call(d.ctx, "history.get", map[string]any{"itemids": items[0].ItemID, "history": 3, "time_from": since,
			"sortfield": "clock", "sortorder": "ASC", "output": "extend"}, &hist)
		for _, h := range hist {
			if h.Value != "1" {
				out = append(out, event{at: clock(h.Clock, h.NS), what: fmt.Sprintf("libvirt trap -> vcr-trapd -> Zabbix item %s = %s (the value's clock)", zabbix.KeyGuestState("…"), h.Value)})
				break
			}
		}
	}
	var events []struct {
		EventID string `json:"eventid"`
		Clock   string `json:"clock"`
		NS      string `json:"ns"`
		Name    string `json:"name"`
	}
	d.api.Call(d.ctx, "event.get", map[string]any{"source": 0, "object": 0, "value": 1, "time_from": since,
		"output": []string{"eventid", "clock", "ns", "name"}, "sortfield": "clock"}, &events)
	var ids []string
	for _, e := range events {
		if strings.Contains(e.Name, svc.Name) {
			out = append(out, event{at: clock(e.Clock, e.NS), what: fmt.Sprintf("Zabbix problem %q", e.Name)})
			ids = append(ids, e.EventID)
		}
	}
	if len(ids) > 0 {
		var alerts []struct{ Clock, Status, Message string }
		d.api.Call(d.ctx, "alert.get", map[string]any{"eventids": ids, "output": []string{"clock", "status", "message"}}, &alerts)
		for _, a := range alerts {
			out = append(out, event{at: clock(a.Clock, "0"), coarse: true, what: "Zabbix action: remote command sent to the standby's agent"})
		}
	}
	return out
}

func clock(sec, ns string) time.Time {
	s, _ := strconv.ParseInt(sec, 10, 64)
	n, _ := strconv.ParseInt(ns, 10, 64)
	return time.Unix(s, n)
}

// recoverSteps reads recover's reports since t0 from the history of the standby host's
// items (clocks with nanoseconds): each run's end, result and duration, and the last
// run's steps; and, from trapd's log, when its fast path's script.execute returned.
func (d *demo) recoverSteps(svc *config.Service, t0 time.Time) []event {
	sb, _ := d.inv.Standby(svc.Standby.Host)
	items, err := d.api.ItemsOfHost(d.ctx, sb.ZabbixHost)
	if err != nil {
		return nil
	}
	ids := map[string]zabbix.Item{}
	for _, it := range items {
		ids[it.Key] = it
	}
	history := func(key string, valueType int) []struct{ Clock, NS, Value string } {
		var h []struct{ Clock, NS, Value string }
		if it, ok := ids[key]; ok {
			d.api.Call(d.ctx, "history.get", map[string]any{"itemids": it.ItemID, "history": valueType,
				"time_from": strconv.FormatInt(t0.Unix(), 10), "sortfield": "clock", "sortorder": "ASC", "output": "extend"}, &h)
		}
		return h
	}
	var out []event
	results := history(zabbix.KeyRecoverResult(svc.Name), 1)
	durations := history(zabbix.KeyRecoverDuration(svc.Name), 0)
	for i, r := range results {
		at := clock(r.Clock, r.NS)
		if at.Before(t0) {
			continue
		}
		what := "vcr-recover run ended: " + r.Value
		if i < len(durations) {
			what += " in " + strings.TrimRight(strings.TrimRight(durations[i].Value, "0"), ".") + " s"
		}
		// A run sends its step items with its result, in one request: same clock.
		var steps []string
		for _, st := range []string{"lock", "fence", "container", "hooks", "probe", "dns"} {
			for _, h := range history(zabbix.KeyRecoverStep(svc.Name, st), 0) {
				if d := clock(h.Clock, h.NS).Sub(at); d > -time.Millisecond && d < time.Millisecond {
					v, _ := strconv.ParseFloat(h.Value, 64)
					steps = append(steps, fmt.Sprintf("%s %.3f", st, v))
				}
			}
		}
		if len(steps) > 0 {
			what += " (steps, s: " + strings.Join(steps, ", ") + ")"
		}
		out = append(out, event{at: at, what: what})
	}
	b, _ := os.ReadFile(filepath.Join(d.dir, "vcr-trapd.log"))
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `msg="fast path: recover started through script.execute"`) || !strings.Contains(line, "service="+svc.Name+" ") {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		if at, err := time.Parse(time.RFC3339Nano, ts); err == nil && at.After(t0) {
			out = append(out, event{at: at, what: "vcr-trapd: fast path's script.execute returned (recover ran on the standby's agent)"})
		}
	}
	return out
}

// migrate moves svc's serving container to the big standby while a client runs.
func (d *demo) migrate(svc *config.Service) error {
	step("move %s's serving container to the big standby with vcr-migrate while a client runs", svc.Name)
	p := d.client(svc.DNSName)
	time.Sleep(300 * time.Millisecond)
	out, err := exec.Command("bin/vcr-migrate", "-config", d.path, "-service", svc.Name, "-to", "big", "-json", "-log-level", "warn").Output()
	time.Sleep(300 * time.Millisecond)
	p.stop()
	var rep struct {
		Result   string  `json:"result"`
		Downtime float64 `json:"downtime_seconds"`
		Seconds  float64 `json:"seconds"`
	}
	json.Unmarshal(out, &rep)
	if err != nil || rep.Result != "ok" {
		return fmt.Errorf("vcr-migrate: %v: %s", err, bytes.TrimSpace(out))
	}
	fmt.Printf("  moved in %.2f s; downtime %.3f s by vcr-migrate's own measure; longest gap the client saw %.3f s\n", rep.Seconds, rep.Downtime, p.longestGap())
	d.rows = append(d.rows, [2]string{svc.Name + " moved standby -> big", fmt.Sprintf("client saw %.3f s without service", p.longestGap())})
	return nil
}

// takeover kills the pooled service's owner host and prints when a client is served
// by the replica that takes over.
func (d *demo) takeover() error {
	step("cooperative pool: kill the owner host of shop (agent SIGKILL, LXD daemon stopped)")
	var old netip.Addr
	deadline := time.Now().Add(60 * time.Second)
	for ; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if ip, _, err := d.get("shop." + d.inv.DNS.Zone); err == nil {
			old = ip
			break
		}
	}
	if !old.IsValid() {
		return fmt.Errorf("shop is not served by its pool owner within 60 s (logs in %s)", d.dir)
	}
	time.Sleep(2 * d.inv.Pool.SnapshotPeriod) // a committed snapshot on its replica
	plan, _ := exec.Command("bin/vcr-migrate", "-config", d.path, "-pool", "-plan").Output()
	fmt.Print(indent(string(plan)))
	p := d.client("shop." + d.inv.DNS.Zone)
	t0 := time.Now()
	d.agents["spare"].Process.Kill()
	d.agents["spare"].Wait()
	if out, err := exec.Command("scripts/lab", "lxd-daemon", "stop", "spare").CombinedOutput(); err != nil {
		p.stop()
		return fmt.Errorf("lab lxd-daemon stop spare: %v: %s", err, out)
	}
	served, ip, err := d.waitServed(p, t0, old, 30*time.Second)
	p.stop()
	if err != nil {
		return fmt.Errorf("pool takeover: %w", err)
	}
	fmt.Printf("  client served again from %s %.2f s after the owner died (seed paper: 16 s)\n", ip, served.Sub(t0).Seconds())
	d.rows = append(d.rows, [2]string{"pool: owner host of shop killed", fmt.Sprintf("client served again %.2f s after", served.Sub(t0).Seconds())})
	if out, err := exec.Command("scripts/lab", "lxd-daemon", "start", "spare").CombinedOutput(); err != nil {
		return fmt.Errorf("lab lxd-daemon start spare: %v: %s", err, out)
	}
	return nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}

// failback starts the primaries and returns the names; web1's container goes home.
func (d *demo) failback(svcs ...*config.Service) error {
	step("fail back: start the primary VMs, return the names, web1's container back to the standby")
	for _, s := range svcs {
		exec.Command("virsh", "-c", os.Getenv("VCR_LAB_LIBVIRT_URI"), "start", s.Name).Run()
	}
	for _, s := range svcs {
		hc := &http.Client{Timeout: time.Second}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if resp, err := hc.Get("http://" + s.PrimaryAddress.String() + ":8080/"); err == nil {
				resp.Body.Close()
				break
			}
		}
		out, err := exec.Command("bin/vcr-recover", "-config", d.path, "-service", s.Name, "-failback", "-json", "-log-level", "warn").Output()
		var rep struct {
			Result  string  `json:"result"`
			Seconds float64 `json:"seconds"`
		}
		json.Unmarshal(out, &rep)
		if err != nil {
			return fmt.Errorf("vcr-recover -failback %s: %v: %s", s.Name, err, out)
		}
		ip, body, _ := d.get(s.DNSName)
		fmt.Printf("  %s: failback %s in %.3f s; %s -> %s %s\n", s.Name, rep.Result, rep.Seconds, s.DNSName, ip, firstLine(body))
	}
	if out, err := exec.Command("bin/vcr-migrate", "-config", d.path, "-service", "web1", "-to", "standby", "-log-level", "warn").CombinedOutput(); err != nil {
		return fmt.Errorf("move web1's container back: %v: %s", err, out)
	}
	fmt.Println("  web1's container is back on the standby (a standby that does not serve moves without DNS)")
	return nil
}

// summary prints the table, the daemons' warnings, and where to look in Zabbix.
func (d *demo) summary() {
	step("summary")
	for _, r := range d.rows {
		fmt.Printf("  %-44s %s\n", r[0], r[1])
	}
	logs, _ := filepath.Glob(filepath.Join(d.dir, "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		if n := strings.Count(string(b), "level=WARN") + strings.Count(string(b), "level=ERROR"); n > 0 {
			fmt.Printf("  %s: %d warning or error lines\n", l, n)
		}
	}
	url := strings.TrimSuffix(d.inv.Zabbix.APIURL, "api_jsonrpc.php")
	fmt.Printf("\nZabbix frontend: %s (user %s, password in %s): Monitoring > Problems, the hosts web1, web2, standby, big\n",
		url, d.inv.Zabbix.Username, d.inv.Zabbix.PasswordFile)
}
