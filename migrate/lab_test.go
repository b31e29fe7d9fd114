package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/lock"
	"github.com/vcrcovery/vcrcovery/internal/migration"
	"github.com/vcrcovery/vcrcovery/internal/recovery"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// The lab tests run the real vcr-migrate (and vcr-recover) binaries between the lab's
// two LXD daemons, "standby" and "big", with the lab's BIND. Each test has its own
// service, container and DNS name (mig-*), never web1/web2, and removes them at the end.

var binary, recoverBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vcr-migrate-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "vcr-migrate")
	recoverBinary = filepath.Join(dir, "vcr-recover")
	for bin, pkg := range map[string]string{binary: ".", recoverBinary: "../recover"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			panic(fmt.Sprintf("build %s: %v\n%s", pkg, err, out))
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fakePrimary is the address the test services' "primary" listens on for failback.
const fakePrimary = "127.0.0.77"

type env struct {
	t       *testing.T
	svc     string // service = container name
	dnsName string
	invPath string
	inv     *config.Inventory
	dns     *dnsupdate.Client
}

// opts shape the test inventory.
type opts struct {
	noNetworks bool     // no standbys[].network: an unmapped NIC is refused
	probePorts []int    // default [8080]
	probeTime  string   // default 10s
	hooks      []string // YAML hook entries
	tsigKey    string   // another key file (a DNS failure)
	zabbixHost string   // the standby's Zabbix host (where the report goes)
	svcHost    string   // the service's own Zabbix host (default: the service's name)
	pool       string   // the storage pool of the container's root disk (default: the profile's)
	only       bool     // drop the lab's services (web1, web2): -auto must not move them
	others     []string // more services (containers made by their own newEnv)
}

// newEnv launches container svc on the standby daemon with its own NIC on the standby's
// network (so a move to big needs the network mapping), points svc's lab DNS name at
// it, and writes a test inventory with the service. Cleanup removes all of it.
func newEnv(t *testing.T, svc string, o opts) *env {
	t.Helper()
	base := lab.Need(t, "INVENTORY")
	b, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	state := t.TempDir()
	text = strings.Replace(text, "state_dir: ", "state_dir: "+state+" #", 1)
	if !o.noNetworks {
		text = strings.Replace(text, "  - name: standby\n", "  - name: standby\n    network: vcrsb0\n", 1)
		text = strings.Replace(text, "  - name: big\n", "  - name: big\n    network: vcrbig0\n", 1)
	}
	if o.zabbixHost != "" {
		text = strings.Replace(text, "    zabbix_host: standby\n", "    zabbix_host: "+o.zabbixHost+"\n", 1)
	}
	if o.tsigKey != "" {
		text = strings.Replace(text, "tsig_key_file: ", "tsig_key_file: "+o.tsigKey+" #", 1)
	}
	if o.only {
		text = text[:strings.Index(text, "\nservices:\n")] + "\nservices:\n"
	}
	ports := "[8080]"
	if o.probePorts != nil {
		ports = strings.ReplaceAll(fmt.Sprint(o.probePorts), " ", ", ")
	}
	probeTime := "10s"
	if o.probeTime != "" {
		probeTime = o.probeTime
	}
	svcHost := svc
	if o.svcHost != "" {
		svcHost = o.svcHost
	}
	text += fmt.Sprintf(`  - name: %[1]s
    hypervisor: lab-kvm
    zabbix_host: %[6]s
    vm_uuid: 6f1c8a52-3e0b-4d5e-9a77-%012[2]x
    dns_name: %[1]s.lab.vcrcovery.test.
    primary_address: %[3]s
    probe:
      ports: %[4]s
      timeout: %[5]s
    standby: {host: standby, mode: warm, container: %[1]s}
`, svc, time.Now().UnixNano()&0xffffffffffff, fakePrimary, ports, probeTime, svcHost)
	if len(o.hooks) > 0 {
		text += "    hooks:\n"
		for _, h := range o.hooks {
			text += "      - " + h + "\n"
		}
	}
	for _, other := range o.others {
		text += fmt.Sprintf(`  - name: %[1]s
    hypervisor: lab-kvm
    vm_uuid: 6f1c8a52-3e0b-4d5e-9a77-%012[2]x
    dns_name: %[1]s.lab.vcrcovery.test.
    primary_address: %[3]s
    probe: {ports: [8080], timeout: 10s}
    standby: {host: standby, mode: warm, container: %[1]s}
`, other, (time.Now().UnixNano()+int64(len(other)))&0xffffffffffff, fakePrimary)
	}
	invPath := filepath.Join(t.TempDir(), "vcrcovery.yaml")
	if err := os.WriteFile(invPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := config.Load(invPath)
	if err != nil {
		t.Fatalf("test inventory: %v", err)
	}
	key, err := dnsupdate.ReadKeyFile(lab.Need(t, "TSIG_KEY_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, svc: svc, dnsName: svc + ".lab.vcrcovery.test.", invPath: invPath, inv: inv,
		dns: &dnsupdate.Client{Server: inv.DNS.Server.String(), Zone: inv.DNS.Zone, Key: key, TTL: 2}}
	e.cleanup()
	t.Cleanup(e.cleanup)
	launch := []string{"launch", "busybox", svc, "-q"}
	if o.pool != "" {
		launch = append(launch, "-s", o.pool)
	}
	e.lxc(launch...)
	e.lxc("config", "device", "add", svc, "eth0", "nic", "network=vcrsb0", "name=eth0", "-q")
	ip := e.waitIP("standby")
	e.setDNS(ip)
	lab.Until(t, "the container serves", 10*time.Second, func() error { _, err := httpGet(ip.String()); return err })
	return e
}

func (e *env) cleanup() {
	for _, where := range []string{"", "big:"} {
		e.lxcErr("delete", "--force", where+e.svc)
	}
	ctx := context.Background()
	if cur, err := e.dns.Lookup(ctx, e.dnsName); err == nil {
		for _, a := range cur {
			e.dnsDelete(a)
		}
	}
}

// lxcErr runs the lab's lxc client (remotes "big" and the local standby).
func (e *env) lxcErr(args ...string) (string, error) {
	cmd := exec.Command("lxc", args...)
	cmd.Env = append(os.Environ(), "LXD_DIR="+lab.Need(e.t, "LXD_STANDBY_DIR"), "LXD_CONF="+lab.Need(e.t, "LXD_CONF"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *env) lxc(args ...string) string {
	e.t.Helper()
	out, err := e.lxcErr(args...)
	if err != nil {
		e.t.Fatalf("lxc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// status is the container's LXD status on a server ("" when it does not exist).
func (e *env) status(server string) string {
	remote := remoteOf(server)
	out, err := e.lxcErr("list", remote+e.svc, "-c", "ns", "--format", "csv")
	if err != nil {
		e.t.Fatalf("lxc list: %v %s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if n, st, ok := strings.Cut(l, ","); ok && n == e.svc {
			return st
		}
	}
	return ""
}

// remoteOf is the lab lxc client's prefix for a standby server ("" for the local one).
func remoteOf(server string) string {
	if server == "standby" {
		return ""
	}
	return server + ":"
}

func (e *env) waitIP(server string) netip.Addr {
	e.t.Helper()
	remote := remoteOf(server)
	var ip netip.Addr
	lab.Until(e.t, "address of "+e.svc+" on "+server, 15*time.Second, func() error {
		out, _ := e.lxcErr("list", remote+e.svc, "-c", "4", "--format", "csv")
		a, err := netip.ParseAddr(strings.Fields(out + " x")[0])
		if err != nil {
			return fmt.Errorf("no IPv4 yet (%q)", out)
		}
		ip = a
		return nil
	})
	return ip
}

// setDNS points the name at ip alone (an unconditional update, as an operator would).
func (e *env) setDNS(ip netip.Addr) {
	e.t.Helper()
	cur, err := e.dns.Lookup(context.Background(), e.dnsName)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, a := range cur {
		e.dnsDelete(a)
	}
	e.nsupdate(fmt.Sprintf("update add %s 2 A %s", e.dnsName, ip))
}

func (e *env) dnsDelete(a netip.Addr) { e.nsupdate(fmt.Sprintf("update delete %s A %s", e.dnsName, a)) }

func (e *env) nsupdate(line string) {
	e.t.Helper()
	host, port := e.inv.DNS.Server.Host(), e.inv.DNS.Server.Port()
	cmd := exec.Command("nsupdate", "-k", lab.Need(e.t, "TSIG_KEY_FILE"))
	cmd.Stdin = strings.NewReader(fmt.Sprintf("server %s %d\nzone %s\n%s\nsend\n", host, port, e.inv.DNS.Zone, line))
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("nsupdate %s: %v\n%s", line, err, out)
	}
}

func (e *env) lookup() []netip.Addr {
	e.t.Helper()
	got, err := e.dns.Lookup(context.Background(), e.dnsName)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// runJSON runs bin with args, decodes its JSON report from stdout into v (when it
// printed one) and returns the exit code and stderr.
func (e *env) runJSON(bin string, args []string, v any) (int, string) {
	e.t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	if len(out) > 0 {
		if err := json.Unmarshal(out, v); err != nil {
			e.t.Fatalf("report of %s: %v\n%s\n%s", filepath.Base(bin), err, out, stderr.String())
		}
	}
	return code, stderr.String()
}

// migrate runs vcr-migrate -json and returns its report and exit code.
func (e *env) migrate(args ...string) (*migration.Report, int, string) {
	e.t.Helper()
	var rep migration.Report
	code, stderr := e.runJSON(binary, append([]string{"-config", e.invPath, "-service", e.svc, "-json"}, args...), &rep)
	e.t.Logf("vcr-migrate %v: exit %d, %s: %s (downtime %.3f s, total %.3f s)", args, code, rep.Result, rep.Message, rep.DowntimeSeconds, rep.Seconds)
	return &rep, code, stderr
}

// wantServing checks that the name points at the container on server alone and that
// it serves there; it returns the address.
func (e *env) wantServing(server string) netip.Addr {
	e.t.Helper()
	if st := e.status(server); st != "RUNNING" {
		e.t.Fatalf("%s on %s: status %q, want RUNNING", e.svc, server, st)
	}
	ip := e.waitIP(server)
	if got := e.lookup(); len(got) != 1 || got[0] != ip {
		e.t.Fatalf("%s -> %v, want only %s (the container on %s)", e.dnsName, got, ip, server)
	}
	body, err := httpGet(ip.String())
	if err != nil || !strings.Contains(body, e.svc) {
		e.t.Fatalf("GET %s: %q %v, want the page of %s", ip, body, err, e.svc)
	}
	return ip
}

func httpGet(ip string) (string, error) {
	c := &http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get("http://" + net.JoinHostPort(ip, "8080") + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// client resolves the name at the lab DNS and connects, every 10 ms, like a user
// whose resolver honours the 2 s TTL only as far as asking again each time.
type client struct {
	mu      sync.Mutex
	ok, bad int
	gap     time.Duration // longest run of failures
	last    string        // the last page served
	stop    chan struct{}
	done    chan struct{}
}

func (e *env) startClient() *client {
	c := &client{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		var failSince time.Time
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			addrs, err := e.dns.Lookup(ctx, e.dnsName)
			cancel()
			body := ""
			if err == nil && len(addrs) > 0 {
				body, err = httpGetQuick(addrs[0].String())
			} else if err == nil {
				err = errors.New("no address")
			}
			now := time.Now()
			c.mu.Lock()
			if err != nil {
				c.bad++
				if failSince.IsZero() {
					failSince = now
				}
			} else {
				c.ok++
				c.last = body
				if !failSince.IsZero() {
					c.gap = max(c.gap, now.Sub(failSince))
					failSince = time.Time{}
				}
			}
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *client) finish() (ok, bad int, gap time.Duration, last string) {
	close(c.stop)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok, c.bad, c.gap, c.last
}

func httpGetQuick(ip string) (string, error) {
	c := &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + net.JoinHostPort(ip, "8080") + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestLabMoveAndBack: a serving container moves standby -> big while a client loops;
// it moves back with -keep-source; then the stopped copy left on big makes big refuse
// a third move (name clash); a move to where it runs is a usage error.
func TestLabMoveAndBack(t *testing.T) {
	e := newEnv(t, "mig-move", opts{})
	before := e.wantServing("standby")

	c := e.startClient()
	rep, code, stderr := e.migrate("-to", "big")
	ok, bad, gap, last := c.finish()
	t.Logf("client: %d answers, %d failures, longest gap %s (report: downtime %.3f s, cut-over %.3f s)", ok, bad, gap, rep.DowntimeSeconds, rep.CutoverSeconds)
	if code != 0 || rep.Result != migration.ResultOK || !rep.DNSSwitched {
		t.Fatalf("move to big: exit %d, %+v\n%s", code, rep, stderr)
	}
	after := e.wantServing("big")
	if after == before {
		t.Fatalf("address unchanged %s", after)
	}
	if st := e.status("standby"); st != "" {
		t.Errorf("source still on standby: %s", st)
	}
	if !strings.Contains(last, e.svc) {
		t.Errorf("the client's last page %q is not %s's", last, e.svc)
	}
	if !strings.Contains(rep.ServedFrom, "big/"+e.svc) {
		t.Errorf("served_from %q", rep.ServedFrom)
	}

	// A move to where it runs.
	if _, code, _ := e.migrate("-to", "big"); code != 2 {
		t.Errorf("move to big again: exit %d, want 2", code)
	}

	// Back, keeping the source.
	rep, code, stderr = e.migrate("-to", "standby", "-keep-source")
	if code != 0 || !rep.DNSSwitched {
		t.Fatalf("move back: exit %d, %+v\n%s", code, rep, stderr)
	}
	back := e.wantServing("standby")
	if st := e.status("big"); st != "STOPPED" {
		t.Errorf("kept source on big: status %q, want STOPPED", st)
	}

	// The kept copy clashes with a third move: refused, nothing changes.
	rep, code, _ = e.migrate("-to", "big")
	if code != 8 || !strings.Contains(rep.Message, "exists there already") {
		t.Fatalf("move onto the kept copy: exit %d %q, want 8 (name clash)", code, rep.Message)
	}
	if got := e.wantServing("standby"); got != back {
		t.Errorf("after the refusal: serving at %s, want %s", got, back)
	}
}

// TestLabTargetRefuses: a NIC on a network big lacks, with no standbys[].network to
// map it to, and an unreachable target: exit 8, the service serves on the source and
// DNS is unchanged.
func TestLabTargetRefuses(t *testing.T) {
	e := newEnv(t, "mig-refuse", opts{noNetworks: true})
	ip := e.wantServing("standby")
	rep, code, _ := e.migrate("-to", "big")
	if code != 8 || !strings.Contains(rep.Message, "not mapped") {
		t.Fatalf("unmapped network: exit %d %q, want 8", code, rep.Message)
	}
	if got := e.wantServing("standby"); got != ip {
		t.Errorf("serving at %s, want %s", got, ip)
	}
	if st := e.status("big"); st != "" {
		t.Errorf("a copy on big after the refusal: %s", st)
	}

	// An unreachable target: big's URL on a port nobody listens on.
	b, _ := os.ReadFile(e.invPath)
	text := strings.Replace(string(b), lab.Need(t, "LXD_BIG_URL"), "https://127.0.0.2:1", 1)
	if err := os.WriteFile(e.invPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, code, _ = e.migrate("-to", "big")
	if code != 8 || !strings.Contains(rep.Message, "unreachable") {
		t.Fatalf("unreachable target: exit %d %q, want 8", code, rep.Message)
	}
	e.wantServing("standby")

	// An untrusted one: big answers, but with a certificate that is not the one pinned
	// (the standby daemon's).
	text = strings.Replace(string(b), lab.Need(t, "LXD_BIG_SERVER_CERT"), lab.Need(t, "LXD_STANDBY_SERVER_CERT"), 1)
	if err := os.WriteFile(e.invPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, code, _ = e.migrate("-to", "big")
	if code != 8 || !strings.Contains(rep.Message, "untrusted") {
		t.Fatalf("untrusted target: exit %d %q, want 8", code, rep.Message)
	}
	if got := e.wantServing("standby"); got != ip {
		t.Errorf("serving at %s, want %s", got, ip)
	}
}

// TestLabTargetNoSpace: the target's pool of the container's name is a 32 MB tmpfs
// (made by the test on big, with a same-named ordinary pool on standby); the container
// holds 64 MB, which the dir pool does not report: the target check measures it (du in
// the container) and refuses with exit 8 before anything is copied; the source serves
// and DNS is unchanged.
func TestLabTargetNoSpace(t *testing.T) {
	const pool = "migtiny"
	lxcRoot := func(args ...string) (string, error) {
		cmd := exec.Command("lxc", args...)
		cmd.Env = append(os.Environ(), "LXD_DIR="+lab.Need(t, "LXD_STANDBY_DIR"), "LXD_CONF="+lab.Need(t, "LXD_CONF"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	small := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=32m", "migtiny", small).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", small).Run() })
	for _, p := range []struct{ remote, source string }{{"", filepath.Join(t.TempDir(), "pool")}, {"big:", small + "/pool"}} {
		if err := os.MkdirAll(p.source, 0o711); err != nil {
			t.Fatal(err)
		}
		lxcRoot("storage", "delete", p.remote+pool)
		if out, err := lxcRoot("storage", "create", p.remote+pool, "dir", "source="+p.source); err != nil {
			t.Fatalf("storage create %s%s: %v %s", p.remote, pool, err, out)
		}
		t.Cleanup(func() { lxcRoot("storage", "delete", p.remote+pool) })
	}
	e := newEnv(t, "mig-nospace", opts{pool: pool})
	t.Cleanup(e.cleanup) // before the pools go (cleanups run last-in first-out)
	e.lxc("exec", e.svc, "--", "dd", "if=/dev/urandom", "of=/data.bin", "bs=1M", "count=64")
	ip := e.wantServing("standby")
	rep, code, stderr := e.migrate("-to", "big")
	if code != 8 || rep.Result != migration.ResultTargetRefused || !strings.Contains(rep.Message, "no space: pool "+pool) {
		t.Fatalf("no space: exit %d %s %q, want 8 (space)\n%s", code, rep.Result, rep.Message, stderr)
	}
	if got := e.wantServing("standby"); got != ip {
		t.Errorf("serving at %s, want %s", got, ip)
	}
	if st := e.status("big"); st != "" {
		t.Errorf("a copy on big after the refusal: %s", st)
	}
}

// TestLabMaintenance: a real Zabbix maintenance period on the service's host refuses
// the move (exit 3) before anything is copied; the service is untouched.
func TestLabMaintenance(t *testing.T) {
	ctx := context.Background()
	api := labAPI(t)
	host, hostid := lab.TrapperHost(t, api, "mig-maint", nil)
	now := time.Now().Unix()
	var created struct {
		IDs []string `json:"maintenanceids"`
	}
	if err := api.Call(ctx, "maintenance.create", map[string]any{"name": host, "active_since": now - 60, "active_till": now + 3600,
		"hosts":       []any{map[string]any{"hostid": hostid}},
		"timeperiods": []any{map[string]any{"timeperiod_type": 0, "start_date": now - 60, "period": 3600}}}, &created); err != nil {
		t.Fatalf("maintenance.create: %v", err)
	}
	t.Cleanup(func() { api.Call(context.Background(), "maintenance.delete", created.IDs, nil) })
	// Zabbix's timer process puts hosts into maintenance once a minute, from the
	// configuration cache: make the cache see the new period.
	lab.ReloadZabbixConfig(t)
	lab.Until(t, host+" in maintenance", 90*time.Second, func() error {
		st, err := api.HostStatus(ctx, host)
		if err != nil || !st.Maintenance {
			return fmt.Errorf("maintenance=%v %v", st.Maintenance, err)
		}
		return nil
	})
	e := newEnv(t, "mig-maint", opts{svcHost: host})
	ip := e.wantServing("standby")
	rep, code, stderr := e.migrate("-to", "big")
	if code != 3 || !strings.Contains(rep.Message, host+" is in maintenance") {
		t.Fatalf("in maintenance: exit %d %q, want 3\n%s", code, rep.Message, stderr)
	}
	if got := e.wantServing("standby"); got != ip {
		t.Errorf("serving at %s, want %s", got, ip)
	}
	if st := e.status("big"); st != "" {
		t.Errorf("a copy on big: %s", st)
	}
}

// TestLabRollback: failures after the source was frozen thaw it: a probe that fails
// on the target (exit 5), a hook that fails (exit 4), a DNS server that refuses the
// key (exit 6), a name that moved meanwhile (exit 7). Each time the source serves
// again, DNS is where it was and big holds no copy.
func TestLabRollback(t *testing.T) {
	badKey := filepath.Join(t.TempDir(), "bad.key")
	out, err := exec.Command("tsig-keygen", "-a", "hmac-sha256", "ddns-key").Output()
	if err != nil {
		t.Fatalf("tsig-keygen: %v", err)
	}
	if err := os.WriteFile(badKey, out, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		o        opts
		wantCode int
		// during runs while the move runs (the lost race)
		during func(e *env, from netip.Addr)
	}{
		{name: "probe", o: opts{probePorts: []int{8080, 9}, probeTime: "1s"}, wantCode: 5},
		{name: "hook", o: opts{hooks: []string{`{name: fail, command: ["false"]}`}}, wantCode: 4},
		{name: "dns", o: opts{tsigKey: badKey}, wantCode: 6},
		{name: "race", o: opts{hooks: []string{`{name: wait, command: ["sleep", "2"]}`}}, wantCode: 7,
			during: func(e *env, from netip.Addr) {
				// Once the source is frozen, another "recoverer" moves the name.
				lab.Until(e.t, "source frozen", 60*time.Second, func() error {
					if st := e.status("standby"); st != "FROZEN" {
						return fmt.Errorf("status %s", st)
					}
					return nil
				})
				if err := e.dns.Switch(context.Background(), e.dnsName, from, netip.MustParseAddr("10.77.2.250")); err != nil {
					e.t.Errorf("switch: %v", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "mig-rb-"+tt.name, tt.o)
			ip := e.wantServing("standby")
			done := make(chan struct{})
			if tt.during != nil {
				go func() { defer close(done); tt.during(e, ip) }()
			} else {
				close(done)
			}
			rep, code, stderr := e.migrate("-to", "big")
			<-done
			if code != tt.wantCode || !strings.Contains(rep.Message, "rolled back") {
				t.Fatalf("exit %d %q, want %d and a rollback\n%s", code, rep.Message, tt.wantCode, stderr)
			}
			if st := e.status("standby"); st != "RUNNING" {
				t.Fatalf("source status %q after the rollback", st)
			}
			if st := e.status("big"); st != "" {
				t.Errorf("copy left on big: %s", st)
			}
			if tt.during != nil {
				return // the name was moved by the test itself
			}
			if got := e.wantServing("standby"); got != ip {
				t.Errorf("serving at %s, want %s", got, ip)
			}
		})
	}
}

// TestLabLocked: a recovery of the service holds its lock: the move is refused (3).
func TestLabLocked(t *testing.T) {
	e := newEnv(t, "mig-lock", opts{})
	ip := e.wantServing("standby")
	l, err := lock.Acquire(context.Background(), lock.ServicePath(e.inv.StateDir, e.svc))
	if err != nil {
		t.Fatal(err)
	}
	rep, code, _ := e.migrate("-to", "big", "-lock-wait", "200ms")
	l.Unlock()
	if code != 3 || !strings.Contains(rep.Message, "holds") {
		t.Fatalf("exit %d %q, want 3 (locked)", code, rep.Message)
	}
	if got := e.wantServing("standby"); got != ip {
		t.Errorf("serving at %s, want %s", got, ip)
	}
}

// TestLabNotServing: a standby that does not serve (the name points at the primary)
// moves the same way; DNS is left alone; recover -dry-run then plans on big.
func TestLabNotServing(t *testing.T) {
	e := newEnv(t, "mig-idle", opts{})
	e.setDNS(netip.MustParseAddr(fakePrimary))
	rep, code, stderr := e.migrate("-to", "big")
	if code != 0 || rep.DNSSwitched {
		t.Fatalf("exit %d switched=%v %q\n%s", code, rep.DNSSwitched, rep.Message, stderr)
	}
	if got := e.lookup(); len(got) != 1 || got[0].String() != fakePrimary {
		t.Errorf("DNS %v, want the primary %s", got, fakePrimary)
	}
	if st := e.status("big"); st != "RUNNING" {
		t.Errorf("on big: %q", st)
	}
	out, err := exec.Command(recoverBinary, "-config", e.invPath, "-service", e.svc, "-dry-run").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "on big") {
		t.Errorf("recover -dry-run after the move: %v\n%s", err, out)
	}
}

// TestLabRecoverAfterMove: after a move, vcr-recover finds the container on big: a
// forced recovery switches the name there, -failback returns it to the primary.
func TestLabRecoverAfterMove(t *testing.T) {
	e := newEnv(t, "mig-fb", opts{})
	e.wantServing("standby")
	if _, code, stderr := e.migrate("-to", "big"); code != 0 {
		t.Fatalf("move: exit %d\n%s", code, stderr)
	}
	onBig := e.wantServing("big")

	// The primary comes back: failback switches the name to it.
	ln, err := net.Listen("tcp", net.JoinHostPort(fakePrimary, "8080"))
	if err != nil {
		t.Fatalf("fake primary: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "primary") })}
	go srv.Serve(ln)
	rec := e.recover
	if rep, code := rec("-failback"); code != 0 || !strings.Contains(rep.ServedFrom, "primary") {
		t.Fatalf("failback after the move: exit %d %+v", code, rep)
	}
	if got := e.lookup(); len(got) != 1 || got[0].String() != fakePrimary {
		t.Fatalf("DNS %v after failback", got)
	}
	srv.Close()

	// The primary fails again: recover (forced: the fake primary has no fencing
	// evidence) brings it back on big, where the container runs now.
	if rep, code := rec("-force"); code != 0 || !strings.Contains(rep.ServedFrom, "big/"+e.svc) {
		t.Fatalf("recover after the move: exit %d %+v", code, rep)
	}
	if got := e.wantServing("big"); got != onBig {
		t.Errorf("recovered at %s, want %s", got, onBig)
	}
}

// TestLabReportsToZabbix: the move's result, exit code, durations and downtime arrive
// as items of the service's standby host.
func TestLabReportsToZabbix(t *testing.T) {
	ctx := context.Background()
	api := labAPI(t)
	svc := "mig-zbx"
	keys := map[string]int{
		zabbix.KeyMigrateResult(svc): lab.ValueChar, zabbix.KeyMigrateExit(svc): lab.ValueUnsigned,
		zabbix.KeyMigrateDuration(svc): lab.ValueFloat, zabbix.KeyMigrateDowntime(svc): lab.ValueFloat,
		zabbix.KeyMigratePhase(svc, "precopy"): lab.ValueFloat, zabbix.KeyMigratePhase(svc, "refresh"): lab.ValueFloat,
		zabbix.KeyMigratePhase(svc, "cutover"): lab.ValueFloat,
		zabbix.KeyServedFrom(svc):              lab.ValueChar,
	}
	host, _ := lab.TrapperHost(t, api, "mig-standby", keys)
	e := newEnv(t, svc, opts{zabbixHost: host})
	rep, code, stderr := e.migrate("-to", "big")
	if code != 0 {
		t.Fatalf("exit %d %q\n%s", code, rep.Message, stderr)
	}
	if strings.Contains(stderr, "report to zabbix failed") {
		t.Fatalf("report failed:\n%s", stderr)
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	lab.Until(t, "items in zabbix", 20*time.Second, func() error {
		items, err := api.ItemsOfHost(ctx, host, names...)
		if err != nil {
			return err
		}
		got := map[string]string{}
		for _, it := range items {
			if it.LastClock != 0 {
				got[it.Key] = it.LastValue
			}
		}
		if len(got) != len(keys) {
			return fmt.Errorf("%d of %d items have values: %v", len(got), len(keys), got)
		}
		if got[zabbix.KeyMigrateResult(svc)] != "ok" || got[zabbix.KeyMigrateExit(svc)] != "0" || !strings.HasPrefix(got[zabbix.KeyServedFrom(svc)], "big/") {
			return fmt.Errorf("values %v", got)
		}
		return nil
	})
}

// setCapacity rewrites the standby's capacity in the test inventory.
func (e *env) setCapacity(n int) {
	e.t.Helper()
	b, err := os.ReadFile(e.invPath)
	if err != nil {
		e.t.Fatal(err)
	}
	text := regexp.MustCompile(`(?m)^    capacity: \d+$`).ReplaceAllLiteralString(string(b), "") // every standby's
	text = strings.Replace(text, "  - name: standby\n", fmt.Sprintf("  - name: standby\n    capacity: %d\n", n), 1)
	if err := os.WriteFile(e.invPath, []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) auto(args ...string) (*migration.AutoReport, int, string) {
	e.t.Helper()
	var rep migration.AutoReport
	code, stderr := e.runJSON(binary, append([]string{"-config", e.invPath, "-auto", "-json"}, args...), &rep)
	e.t.Logf("vcr-migrate -auto %v: exit %d, %s: %s, plan %+v", args, code, rep.Result, rep.Message, rep.Plan)
	return &rep, code, stderr
}

// running counts the running containers on the lab's standby daemon.
func (e *env) running() int {
	out := e.lxc("list", "status=running", "-c", "n", "--format", "csv")
	return len(strings.Fields(out))
}

// TestLabAuto: -auto moves work off a standby over its capacity, to big, and none off a
// healthy one; a service in its cool-down is passed over for another.
func TestLabAuto(t *testing.T) {
	ctx := context.Background()
	api := labAPI(t)
	host, _ := lab.TrapperHost(t, api, "mig-auto-standby", map[string]int{zabbix.KeyStandbyOverload: lab.ValueFloat})
	overload := func() string {
		items, err := api.ItemsOfHost(ctx, host, zabbix.KeyStandbyOverload)
		if err != nil || len(items) != 1 || items[0].LastClock == 0 {
			return fmt.Sprint("none ", err)
		}
		return items[0].LastValue
	}

	b := newEnv(t, "mig-auto-b", opts{})
	a := newEnv(t, "mig-auto-a", opts{only: true, others: []string{"mig-auto-b"}, zabbixHost: host})
	n := a.running() // ours and whatever else runs there (web1's warm standby)

	a.setCapacity(n + 4)
	if rep, code, _ := a.auto(); code != 0 || len(rep.Plan) != 0 {
		t.Fatalf("healthy standby: exit %d, plan %+v", code, rep.Plan)
	}
	if rep, _, _ := a.auto("-dry-run"); len(rep.Plan) != 0 {
		t.Fatalf("healthy standby, dry run: plan %+v", rep.Plan)
	}

	a.setCapacity(n - 1)
	rep, code, _ := a.auto("-dry-run")
	if code != 0 || len(rep.Plan) != 1 || rep.Plan[0].Container != "mig-auto-a" || rep.Plan[0].To != "big" {
		t.Fatalf("dry run over capacity: exit %d, plan %+v", code, rep.Plan)
	}
	if st := a.status("big"); st != "" {
		t.Fatalf("the dry run moved something: %s", st)
	}
	// The dry run reported the standby's load, n of n-1, to its Zabbix host (the
	// template's "overloaded" trigger fires on it).
	want := float64(n) / float64(n-1)
	lab.Until(t, "the overload item", 20*time.Second, func() error {
		if got, err := strconv.ParseFloat(overload(), 64); err != nil || math.Abs(got-want) > 0.001 {
			return fmt.Errorf("%s = %g (%v), want %g", zabbix.KeyStandbyOverload, got, err, want)
		}
		return nil
	})
	rep, code, stderr := a.auto()
	if code != 0 || len(rep.Moves) != 1 || rep.Moves[0].ExitCode != 0 {
		t.Fatalf("over capacity: exit %d, %+v\n%s", code, rep, stderr)
	}
	a.wantServing("big")
	b.wantServing("standby")

	// Back by hand (the capacity refuses it first: exit 8); over again: a is cooling
	// down, so b moves.
	if _, code, _ := a.migrate("-to", "standby"); code != 8 {
		t.Fatalf("move back onto a full standby: exit %d, want 8", code)
	}
	a.setCapacity(n + 4)
	if _, code, stderr := a.migrate("-to", "standby"); code != 0 {
		t.Fatalf("move back: exit %d\n%s", code, stderr)
	}
	a.setCapacity(n - 1)
	rep, code, _ = a.auto()
	if code != 0 || len(rep.Plan) != 1 || rep.Plan[0].Container != "mig-auto-b" {
		t.Fatalf("with a in its cool-down: exit %d, plan %+v", code, rep.Plan)
	}
	b.wantServing("big")
	a.wantServing("standby")
}

// TestLabInterrupted: a move killed in its cut-over leaves the source frozen and a
// copy on big. The next run thaws the source at once (the service serves again), then
// refuses because of the copy (exit 8); once the copy is gone a move works.
func TestLabInterrupted(t *testing.T) {
	e := newEnv(t, "mig-kill", opts{hooks: []string{`{name: wait, command: ["sleep", "30"]}`}})
	ip := e.wantServing("standby")
	cmd := exec.Command(binary, "-config", e.invPath, "-service", e.svc, "-to", "big")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lab.Until(t, "source frozen", 60*time.Second, func() error {
		if st := e.status("standby"); st != "FROZEN" {
			return fmt.Errorf("status %s", st)
		}
		return nil
	})
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := httpGet(ip.String()); err == nil {
		t.Fatal("a frozen source answered")
	}
	rep, code, _ := e.migrate("-to", "big")
	if code != 8 || !strings.Contains(rep.Message, "interrupted move") {
		t.Fatalf("after the kill: exit %d %q, want 8 (the copy left on big)", code, rep.Message)
	}
	if got := e.wantServing("standby"); got != ip {
		t.Errorf("serving at %s, want %s", got, ip)
	}
	e.lxc("delete", "--force", "big:"+e.svc)
}

// TestLabRecoverWaitsForMove: a recovery that starts while a migration is in its
// cut-over (it holds the service's lock) waits, then finds the container where the
// migration left it (big), not where it was.
func TestLabRecoverWaitsForMove(t *testing.T) {
	e := newEnv(t, "mig-race", opts{hooks: []string{`{name: wait, command: ["sleep", "2"]}`}})
	e.setDNS(netip.MustParseAddr(fakePrimary)) // the primary serves; its standby moves
	cmd := exec.Command(binary, "-config", e.invPath, "-service", e.svc, "-to", "big")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lab.Until(t, "the cut-over under way", 60*time.Second, func() error {
		if st := e.status("standby"); st != "FROZEN" {
			return fmt.Errorf("source %s", st)
		}
		return nil
	})
	// The primary "fails": recover -force (the fake primary has no fencing evidence).
	rep, code := e.recover("-force")
	if werr := cmd.Wait(); werr != nil {
		t.Fatalf("the move: %v", werr)
	}
	if code != 0 || !strings.Contains(rep.ServedFrom, "big/"+e.svc) {
		t.Fatalf("recover during the cut-over: exit %d, %+v", code, rep)
	}
	e.wantServing("big")
}

// TestLabRecoverDuringPreCopy: a recovery that starts while a migration copies the
// container (200 MB: seconds of pre-copy) is not held up: it takes the service's lock
// at once and switches the name to the source container. The migration then finds the
// name changed under the lock and refuses (exit 3, result "changed"), removes its copy
// and leaves DNS where the recovery put it.
func TestLabRecoverDuringPreCopy(t *testing.T) {
	e := newEnv(t, "mig-pre", opts{})
	e.lxc("exec", e.svc, "--", "dd", "if=/dev/urandom", "of=/data.bin", "bs=1M", "count=200")
	ip := e.waitIP("standby")
	e.setDNS(netip.MustParseAddr(fakePrimary)) // the primary serves; its standby moves
	cmd := exec.Command(binary, "-config", e.invPath, "-service", e.svc, "-to", "big", "-json")
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	lab.Until(t, "the pre-copy under way", 60*time.Second, func() error {
		if st := e.status("big"); st == "" {
			return errors.New("no copy on big yet")
		}
		return nil
	})
	rep, code := e.recover("-force", "-lock-wait", "1s")
	select {
	case <-exited:
		t.Fatalf("the migration ended before the recovery did: the pre-copy was too short to test\n%s", stderr.String())
	default:
	}
	if code != 0 || !strings.Contains(rep.ServedFrom, "standby/"+e.svc) {
		t.Fatalf("recover during the pre-copy: exit %d, %+v", code, rep)
	}
	<-exited
	var mrep migration.Report
	if err := json.Unmarshal([]byte(out.String()), &mrep); err != nil {
		t.Fatalf("migrate report: %v\n%s\n%s", err, out.String(), stderr.String())
	}
	t.Logf("vcr-migrate: exit %d %s: %s", mrep.ExitCode, mrep.Result, mrep.Message)
	if cmd.ProcessState.ExitCode() != 3 || mrep.Result != migration.ResultChanged || !strings.Contains(mrep.Message, "changed during the pre-copy") {
		t.Fatalf("migration after the recovery: exit %d %s %q, want 3 changed\n%s", cmd.ProcessState.ExitCode(), mrep.Result, mrep.Message, stderr.String())
	}
	if mrep.DNSSwitched {
		t.Error("the migration switched DNS over the recovery")
	}
	if got := e.wantServing("standby"); got != ip {
		t.Errorf("serving at %s, want %s (where the recovery put it)", got, ip)
	}
	if st := e.status("big"); st != "" {
		t.Errorf("copy left on big: %s", st)
	}
}

// recover runs vcr-recover -json for the env's service.
func (e *env) recover(args ...string) (*recovery.Report, int) {
	e.t.Helper()
	var rep recovery.Report
	code, _ := e.runJSON(recoverBinary, append([]string{"-config", e.invPath, "-service", e.svc, "-json", "-fence-wait", "0s"}, args...), &rep)
	e.t.Logf("vcr-recover %v: exit %d %s: %s (%s)", args, code, rep.Result, rep.Message, rep.ServedFrom)
	return &rep, code
}

// labAPI logs in to the lab's Zabbix API as the lab inventory does; the session ends
// with the test.
func labAPI(t *testing.T) *zabbix.API {
	t.Helper()
	inv, err := config.Load(lab.Need(t, "INVENTORY"))
	if err != nil {
		t.Fatal(err)
	}
	api, err := zabbix.Login(context.Background(), inv.Zabbix)
	if err != nil {
		lab.Missing(t, "zabbix api", err)
	}
	t.Cleanup(func() { api.Logout(context.Background()) })
	return api
}
