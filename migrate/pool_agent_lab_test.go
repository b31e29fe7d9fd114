package main

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"
	"github.com/miekg/dns"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/dcs"
	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/poolplan"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

var poolHosts = []string{"standby", "big", "spare"}

// poolAgent is one `vcr-migrate -pool -host H` process of a test.
type poolAgent struct {
	host string
	cmd  *exec.Cmd
	log  string
}

func startPoolAgent(t *testing.T, path, host string) *poolAgent {
	t.Helper()
	log := filepath.Join(t.TempDir(), host+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "-config", path, "-pool", "-host", host)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	a := &poolAgent{host: host, cmd: cmd, log: log}
	t.Cleanup(func() {
		a.signal(syscall.SIGKILL)
		if t.Failed() {
			b, err := os.ReadFile(log)
			t.Logf("agent %s (%v):\n%s", host, err, b)
		}
	})
	return a
}

// signal sends sig and waits for the process to end.
func (a *poolAgent) signal(sig syscall.Signal) error {
	if a.cmd.ProcessState != nil {
		return nil
	}
	a.cmd.Process.Signal(sig)
	return a.cmd.Wait()
}

// poolLab is what a pool agent test needs of the lab.
type poolLab struct {
	t    *testing.T
	inv  *config.Inventory
	path string
	svc  string
	// zabbixHost is the service's trapper host, with the pool template's items.
	zabbixHost string
	dcs        *dcs.Client
	dns        *dnsupdate.Client
}

// newPoolLab writes an inventory with a pool of its own and one pooled service pinned to
// pin, period 2 s, and registers the cleanup: every copy of the container deleted, the
// DNS name removed.
func newPoolLab(t *testing.T, prefix, pin string) *poolLab {
	t.Helper()
	return newPoolLabOn(t, prefix, pin, "")
}

// newPoolLabOn is newPoolLab with the service's pool.storage_pool (empty: unset, the
// daemons' default dir pool).
func newPoolLabOn(t *testing.T, prefix, pin, storagePool string) *poolLab {
	t.Helper()
	lab.Need(t, "ETCD")
	lab.Need(t, "LXD_SPARE_URL")
	id := time.Now().UnixNano() % 1e9
	svc := fmt.Sprintf("%s%d", prefix, id)
	zbxHost, _ := lab.TrapperHost(t, labAPI(t), svc, map[string]int{
		zabbix.KeyPoolOwner: lab.ValueChar, zabbix.KeyPoolReplicas: lab.ValueUnsigned, zabbix.KeyPoolReplicasWanted: lab.ValueUnsigned,
		zabbix.KeyPoolSnapshotAge: lab.ValueFloat, zabbix.KeyPoolSnapshotPeriod: lab.ValueFloat, zabbix.KeyPoolSnapshotSize: lab.ValueUnsigned,
	})
	onPool := ""
	if storagePool != "" {
		onPool = ", storage_pool: " + storagePool
	}
	services := fmt.Sprintf("  - {name: %s, zabbix_host: %s, dns_name: %s.lab.vcrcovery.test., probe: {ports: [8080], timeout: 10s}, pool: {replicas: 1, pin: %s%s, backup: {kind: image, source: busybox}}}\n", svc, zbxHost, svc, pin, onPool)
	path, inv := poolInventoryWith(t, fmt.Sprintf("%s%d", prefix, id), "", services, 2*time.Second)
	c, err := dcs.Connect(context.Background(), poolplan.Options(inv.Pool))
	if err != nil {
		t.Fatal(err)
	}
	p := &poolLab{t: t, inv: inv, path: path, svc: svc, dcs: c, zabbixHost: zbxHost,
		dns: &dnsupdate.Client{Server: inv.DNS.Server.String(), Zone: inv.DNS.Zone, Key: inv.DNS.TSIGKey, TTL: inv.DNS.TTL}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, h := range poolHosts {
			if srv := p.server(ctx, h); srv != nil {
				if ok, _ := srv.Running(ctx, svc); ok {
					srv.Stop(ctx, svc)
				}
				// A killed agent's copy may still run on the server (LXD finishes an
				// operation its client left): wait for them, then delete, snapshots
				// first (deleting one under a running refresh leaves its files behind).
				for wait := 0; wait < 60; wait++ {
					ops, err := srv.Client().GetOperations()
					busy := slices.ContainsFunc(ops, func(o api.Operation) bool { return o.StatusCode == api.Running })
					if err != nil || !busy {
						break
					}
					time.Sleep(500 * time.Millisecond)
				}
				for try := 0; try < 20; try++ {
					if ok, _ := srv.Exists(ctx, svc); !ok {
						break
					}
					names, _ := srv.Snapshots(ctx, svc)
					for _, n := range names {
						srv.DeleteSnapshot(ctx, svc, n)
					}
					err := srv.Delete(ctx, svc)
					if err == nil {
						break
					}
					if try == 19 {
						t.Logf("cleanup: %v", err)
					}
					time.Sleep(500 * time.Millisecond)
				}
			}
		}
		m := new(dns.Msg)
		m.SetUpdate(inv.DNS.Zone)
		m.RemoveName([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: svc + "." + inv.DNS.Zone, Rrtype: dns.TypeANY, Class: dns.ClassANY}}})
		m.SetTsig(inv.DNS.TSIGKey.Name, inv.DNS.TSIGKey.Algorithm, 300, time.Now().Unix())
		cl := &dns.Client{TsigSecret: map[string]string{inv.DNS.TSIGKey.Name: inv.DNS.TSIGKey.Secret.Reveal()}}
		if _, _, err := cl.ExchangeContext(ctx, m, inv.DNS.Server.String()); err != nil {
			t.Logf("cleanup: remove %s: %v", svc, err)
		}
		c.Close()
	})
	return p
}

// server connects to a pool host's LXD; nil when it does not answer. Its requests obey
// ctx (the LXD client keeps it), which must outlive their use.
func (p *poolLab) server(ctx context.Context, host string) *container.Server {
	for _, sb := range p.inv.PoolHosts() {
		if sb.Name == host {
			if srv, err := container.Connect(ctx, sb); err == nil {
				return srv
			}
		}
	}
	return nil
}

// running lists the hosts (among those given) where the service's container runs (or
// is frozen by a snapshot: it serves again when thawed).
func (p *poolLab) running(hosts ...string) []string {
	var out []string
	for _, h := range hosts {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if srv := p.server(ctx, h); srv != nil {
			if ok, err := srv.Live(ctx, p.svc); err == nil && ok {
				out = append(out, h)
			}
		}
		cancel()
	}
	return out
}

// onNetworkOf checks that ip, where the service's container on host serves, is on
// that host's own network: the one its eth0 names there (through the host's profile),
// whose subnet LXD reports. A copy carries no NIC of its own host's.
func (p *poolLab) onNetworkOf(host string, ip netip.Addr) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := p.server(ctx, host)
	if srv == nil {
		p.t.Fatalf("LXD of %s does not answer", host)
	}
	inst, _, err := srv.Client().GetInstance(p.svc)
	if err != nil {
		p.t.Fatal(err)
	}
	name := inst.ExpandedDevices["eth0"]["network"]
	n, _, err := srv.Client().GetNetwork(name)
	if err != nil {
		p.t.Fatalf("network %q of %s's eth0 on %s: %v", name, p.svc, host, err)
	}
	pfx, err := netip.ParsePrefix(n.Config["ipv4.address"])
	if err != nil || !pfx.Masked().Contains(ip) {
		p.t.Errorf("%s serves at %s on %s, not on that host's network %s (%s, %v)", p.svc, ip, host, name, n.Config["ipv4.address"], err)
	}
}

// served returns the one address the name points at, if it answers HTTP there.
func (p *poolLab) served() (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	addrs, err := p.dns.Lookup(ctx, p.svc+"."+p.inv.DNS.Zone)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(addrs) != 1 {
		return netip.Addr{}, fmt.Errorf("%s points at %v", p.svc, addrs)
	}
	cl := &http.Client{Timeout: 300 * time.Millisecond}
	resp, err := cl.Get("http://" + addrs[0].String() + ":8080/")
	if err != nil {
		return addrs[0], err
	}
	resp.Body.Close()
	return addrs[0], nil
}

// committed waits for a commit by owner (any owner when empty) held by want replicas.
func (p *poolLab) committed(owner string, within time.Duration, ok func(dcs.Snapshot) bool) dcs.Snapshot {
	p.t.Helper()
	var snap dcs.Snapshot
	lab.Until(p.t, "a commit of "+p.svc+" by "+owner, within, func() error {
		s, found, err := p.dcs.Latest(context.Background(), p.svc)
		if err != nil || !found {
			return fmt.Errorf("no commit yet (%v)", err)
		}
		if (owner != "" && s.Owner != owner) || !ok(s) {
			return fmt.Errorf("latest commit %s by %s on %v", s.Name, s.Owner, s.Replicas)
		}
		snap = s
		return nil
	})
	return snap
}

func (p *poolLab) owner() string {
	o, err := p.dcs.Owner(context.Background(), p.svc)
	if err != nil {
		p.t.Fatal(err)
	}
	return o.Host
}

// items waits until the service's Zabbix host has the wanted last values (numbers
// compared as numbers), a snapshot age under two periods and a snapshot size (the
// busybox container's files: some hundred kB, du inside it on the lab's dir pools).
func (p *poolLab) items(want map[string]string) {
	p.t.Helper()
	api := labAPI(p.t)
	lab.Until(p.t, "pool items in zabbix", 20*time.Second, func() error {
		items, err := api.ItemsOfHost(context.Background(), p.zabbixHost)
		if err != nil {
			return err
		}
		got := map[string]string{}
		for _, it := range items {
			got[it.Key] = it.LastValue
		}
		for k, v := range want {
			if strings.TrimRight(strings.TrimRight(got[k], "0"), ".") != v && got[k] != v {
				return fmt.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
			}
		}
		if age, err := strconv.ParseFloat(got[zabbix.KeyPoolSnapshotAge], 64); err != nil || age > 2*p.inv.Pool.SnapshotPeriod.Seconds() {
			return fmt.Errorf("%s = %q, want under two periods", zabbix.KeyPoolSnapshotAge, got[zabbix.KeyPoolSnapshotAge])
		}
		if size, err := strconv.ParseInt(got[zabbix.KeyPoolSnapshotSize], 10, 64); err != nil || size < 100<<10 {
			return fmt.Errorf("%s = %q, want the container's size", zabbix.KeyPoolSnapshotSize, got[zabbix.KeyPoolSnapshotSize])
		}
		return nil
	})
}

func labScript(t *testing.T, args ...string) {
	t.Helper()
	lab.Run(t, 2*time.Minute, filepath.Join(lab.Root(t), "scripts", "lab"), args...)
}

func oneReplica(s dcs.Snapshot) bool { return len(s.Replicas) == 1 }

// start runs an agent on every pool host and waits until owner committed a snapshot
// held by one replica and the name is served.
func (p *poolLab) start(owner string) (map[string]*poolAgent, dcs.Snapshot, netip.Addr) {
	p.t.Helper()
	agents := map[string]*poolAgent{}
	for _, h := range poolHosts {
		agents[h] = startPoolAgent(p.t, p.path, h)
	}
	first := p.committed(owner, 60*time.Second, oneReplica)
	var ip netip.Addr
	lab.Until(p.t, "served from "+owner, 20*time.Second, func() error {
		var err error
		ip, err = p.served()
		return err
	})
	return agents, first, ip
}

// TestLabPoolTakeover: three pool agents, a service pinned to big: big starts it from
// the backup, publishes its name and commits snapshots held by its replica. Then big
// dies (agent SIGKILLed, LXD daemon stopped): its replica, the first holder in ring
// order, takes over from the latest commit, the name moves, a client is served again
// (the figure: seconds from the death), exactly one copy runs, and the replica count
// comes back on the third host. When big returns, its copy never runs again: it
// becomes the replica, and the third host's copy goes. Wherever the container serves,
// its address is on that host's own network.
func TestLabPoolTakeover(t *testing.T) {
	p := newPoolLab(t, "pt", "big")
	agents, first, ip0 := p.start("big")
	replica := first.Replicas[0]
	third := poolHosts[slices.IndexFunc(poolHosts, func(h string) bool { return h != "big" && h != replica })]
	if first.Address != ip0.String() {
		t.Errorf("commit records address %q, the name points at %s", first.Address, ip0)
	}
	p.onNetworkOf("big", ip0)
	if got := p.running(poolHosts...); !slices.Equal(got, []string{"big"}) {
		t.Fatalf("running on %v, want only big", got)
	}

	t.Cleanup(func() { labScript(t, "lxd-daemon", "start", "big") })
	died := time.Now()
	agents["big"].signal(syscall.SIGKILL)
	labScript(t, "lxd-daemon", "stop", "big")
	// A client that resolves the name at the lab's DNS and asks it every 10 ms.
	var served time.Duration
	var ip1 netip.Addr
	for {
		if ip, err := p.served(); err == nil && ip != ip0 {
			served, ip1 = time.Since(died), ip
			break
		}
		if time.Since(died) > 30*time.Second {
			t.Fatal("not served again within 30 s of big's death")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("FIGURE pool takeover: client served again %.2f s after the owner died (agent SIGKILL + LXD daemon stop; lease TTL 2 s; seed paper: 16 s)", served.Seconds())
	if o := p.owner(); o != replica {
		t.Errorf("owner after the takeover is %q, want the replica %s", o, replica)
	}
	p.onNetworkOf(replica, ip1)
	// One DNS change: the takeover's compare-and-set, by the replica alone.
	for h, a := range agents {
		b, _ := os.ReadFile(a.log)
		want := map[bool]int{true: 1, false: 0}[h == replica]
		if h == "big" {
			want = 1 // the first start
		}
		if n := strings.Count(string(b), "step=pool:dns "); n != want {
			t.Errorf("agent %s made %d DNS changes, want %d", h, n, want)
		}
	}
	if got := p.running(replica, third); !slices.Equal(got, []string{replica}) {
		t.Errorf("running on %v after the takeover, want only %s", got, replica)
	}
	p.committed(replica, 30*time.Second, func(s dcs.Snapshot) bool { return slices.Equal(s.Replicas, []string{third}) })
	p.items(map[string]string{zabbix.KeyPoolOwner: replica, zabbix.KeyPoolReplicas: "1", zabbix.KeyPoolReplicasWanted: "1", zabbix.KeyPoolSnapshotPeriod: "2"})

	labScript(t, "lxd-daemon", "start", "big")
	agents["big"] = startPoolAgent(t, p.path, "big")
	p.committed(replica, 60*time.Second, func(s dcs.Snapshot) bool { return slices.Equal(s.Replicas, []string{"big"}) })
	if got := p.running(poolHosts...); !slices.Equal(got, []string{replica}) {
		t.Errorf("running on %v after big came back, want only %s", got, replica)
	}
	if ip, err := p.served(); err != nil || ip != ip1 {
		t.Errorf("after big came back the name points at %s (%v), want %s", ip, err, ip1)
	}
	lab.Until(t, "the third host's copy removed", 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv := p.server(ctx, third); srv != nil {
			if ok, _ := srv.Exists(ctx, p.svc); ok {
				return fmt.Errorf("%s still holds a copy", third)
			}
		}
		return nil
	})

	// SIGTERM is a step-down: a final snapshot of the stopped container, committed, then
	// the lease revoked, and the replica (big) takes over at once from that snapshot.
	before, _, _ := p.dcs.Latest(context.Background(), p.svc)
	if err := agents[replica].signal(syscall.SIGTERM); err != nil {
		t.Errorf("agent %s after SIGTERM: %v", replica, err)
	}
	last := p.committed(replica, 20*time.Second, func(s dcs.Snapshot) bool { return s.Name != before.Name })
	lab.Until(t, "big took over after the step-down", 30*time.Second, func() error {
		if o := p.owner(); o != "big" {
			return fmt.Errorf("owner %q", o)
		}
		_, err := p.served()
		return err
	})
	if ip, err := p.served(); err == nil {
		p.onNetworkOf("big", ip)
	}
	b, _ := os.ReadFile(agents["big"].log)
	if !strings.Contains(string(b), "restored snapshot "+last.Name) {
		t.Errorf("big did not restore the step-down's snapshot %s:\n%s", last.Name, b)
	}
}

// TestLabPoolEtcdQuorumLoss: with two of the three etcd members stopped, nothing is
// taken over even when the owner's agent dies, and the owner's container keeps
// serving. When the quorum returns, the owner's lease expires and its replica takes
// over, stopping the dead agent's container through its (still reachable) LXD API:
// one copy runs.
func TestLabPoolEtcdQuorumLoss(t *testing.T) {
	p := newPoolLab(t, "pq", "spare")
	agents, first, ip0 := p.start("spare")

	t.Cleanup(func() {
		labScript(t, "etcd-member", "start", "2")
		labScript(t, "etcd-member", "start", "3")
	})
	labScript(t, "etcd-member", "stop", "2")
	labScript(t, "etcd-member", "stop", "3")
	agents["spare"].signal(syscall.SIGKILL)
	// Three lease TTLs: any agent that would act on a lost lease has acted by then.
	time.Sleep(3 * p.inv.Pool.LeaseTTL)
	if got := p.running(poolHosts...); !slices.Equal(got, []string{"spare"}) {
		t.Errorf("without quorum: running on %v, want spare only (no takeover)", got)
	}
	if ip, err := p.served(); err != nil || ip != ip0 {
		t.Errorf("without quorum the service is not served from spare: %s %v", ip, err)
	}

	labScript(t, "etcd-member", "start", "2")
	labScript(t, "etcd-member", "start", "3")
	replica := first.Replicas[0]
	lab.Until(t, "taken over once etcd answers again", 60*time.Second, func() error {
		if o := p.owner(); o != replica {
			return fmt.Errorf("owner %q, want %s", o, replica)
		}
		ip, err := p.served()
		if err == nil && ip == ip0 {
			return fmt.Errorf("still served from spare")
		}
		return err
	})
	if got := p.running(poolHosts...); !slices.Equal(got, []string{replica}) {
		t.Errorf("after the takeover: running on %v, want only %s", got, replica)
	}
	b, _ := os.ReadFile(agents[replica].log)
	if !strings.Contains(string(b), "spare: stopped its copy") {
		t.Errorf("the takeover did not fence spare by stopping its copy:\n%s", b)
	}
}

// exec runs cmd in the service's container on host and returns its output.
func (p *poolLab) exec(host string, cmd ...string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := p.server(ctx, host)
	if srv == nil {
		p.t.Fatalf("LXD of %s does not answer", host)
	}
	// LXD freezes a running container while it snapshots it (dir pool): an exec then
	// is refused ("Instance is frozen") until the snapshot is done.
	r, err := srv.Exec(ctx, p.svc, cmd)
	for try := 0; err != nil && strings.Contains(err.Error(), "frozen") && try < 50; try++ {
		time.Sleep(200 * time.Millisecond)
		r, err = srv.Exec(ctx, p.svc, cmd)
	}
	if err != nil || r.ExitCode != 0 {
		p.t.Fatalf("%v on %s: exit %d %v\n%s", cmd, host, r.ExitCode, err, r.Output)
	}
	return r.Output
}

// commitSeconds reads the snapshot and copy seconds of snapshot snap from an agent log.
func commitSeconds(t *testing.T, log, snap string) (snapshot, copy float64) {
	t.Helper()
	b, _ := os.ReadFile(log)
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `msg="snapshot committed"`) || !strings.Contains(line, "snapshot="+snap+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "snapshot_seconds":
				snapshot, _ = strconv.ParseFloat(v, 64)
			case "copy_seconds":
				copy, _ = strconv.ParseFloat(v, 64)
			}
		}
		return snapshot, copy
	}
	t.Fatalf("no commit of %s in %s:\n%s", snap, log, b)
	return 0, 0
}

// TestLabPoolSnapshotCost: 100 MB written into a pooled container reach its replica
// with the next committed snapshot, and survive the owner's death: the new owner's
// copy has the same bytes. The figures are the seed paper's per-period cost: the
// snapshot, the copy of the period that carried the 100 MB and of a quiet period
// after, and the longest gap a client polling every 20 ms saw meanwhile (the paper's
// checkpoint paused the service 8.45 s). Once on the daemons' dir pool (pool.storage_pool
// unset), where LXD freezes the running container while it copies its files into the
// snapshot, and once on their btrfs pool "cow" (scripts/lab up makes it), where the
// snapshot is a subvolume snapshot without a freeze: there the container must be on
// "cow" on the owner, the replica and the new owner, and the gap stay under dir's
// shortest pause (0.5 s).
func TestLabPoolSnapshotCost(t *testing.T) {
	for _, tt := range []struct {
		name, storagePool string
		maxGap            time.Duration // 0: measured only
	}{
		{"dir", "", 0},
		{"cow", "cow", 500 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) { poolSnapshotCost(t, tt.name, tt.storagePool, tt.maxGap) })
	}
}

func poolSnapshotCost(t *testing.T, label, storagePool string, maxGap time.Duration) {
	p := newPoolLabOn(t, "pc", "spare", storagePool)
	agents, first, ip := p.start("spare")
	replica := first.Replicas[0]

	stop := make(chan struct{})
	gap := make(chan time.Duration)
	go func() {
		cl := &http.Client{Timeout: time.Second}
		last, worst := time.Now(), time.Duration(0)
		for {
			select {
			case <-stop:
				gap <- max(worst, time.Since(last))
				return
			case <-time.After(20 * time.Millisecond):
			}
			if resp, err := cl.Get("http://" + ip.String() + ":8080/"); err == nil {
				resp.Body.Close()
				worst, last = max(worst, time.Since(last)), time.Now()
			}
		}
	}()
	before, _, err := p.dcs.Latest(context.Background(), p.svc)
	if err != nil || before.Size <= 0 {
		t.Fatalf("latest commit before the write: size %d (%v), want the container's size", before.Size, err)
	}
	p.exec("spare", "dd", "if=/dev/urandom", "of=/data100", "bs=1048576", "count=100")
	sum := p.exec("spare", "md5sum", "/data100")
	written := time.Now()
	carried := p.committed("spare", 60*time.Second, func(s dcs.Snapshot) bool { return s.Created.After(written) && len(s.Replicas) == 1 })
	quiet := p.committed("spare", 60*time.Second, func(s dcs.Snapshot) bool { return s.Created.After(carried.Committed) && len(s.Replicas) == 1 })
	close(stop)
	worst := <-gap
	snap1, copy1 := commitSeconds(t, agents["spare"].log, carried.Name)
	snap2, copy2 := commitSeconds(t, agents["spare"].log, quiet.Name)
	t.Logf("FIGURE pool snapshot cost (%s storage), 100 MB written: snapshot %.2f s + copy %.2f s; next quiet period: snapshot %.2f s + copy %.2f s; longest client gap %.3f s (seed paper: 8.45 s pause)",
		label, snap1, copy1, snap2, copy2, worst.Seconds())
	if maxGap > 0 && worst > maxGap {
		t.Errorf("on %s storage a client waited %s for the service during the snapshots, want under %s", label, worst, maxGap)
	}
	// What the periods carried: the snapshots' sizes as committed (du inside the
	// container on dir pools: LXD 5.0.2 reports neither their usage nor a copy's bytes).
	// A refresh moves the files changed since the replica's latest snapshot: here the
	// growth of the period that carried the write, and about nothing after it.
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	t.Logf("FIGURE pool snapshot size (%s storage): %.2f MiB before the write, %.2f MiB in the period that carried it (+%.2f MiB), %.2f MiB in the quiet period after (%+.2f MiB)",
		label, mib(before.Size), mib(carried.Size), mib(carried.Size-before.Size), mib(quiet.Size), mib(quiet.Size-carried.Size))
	if grown := carried.Size - before.Size; grown < 100<<20 || grown > 101<<20 {
		t.Errorf("the period that carried 100 MiB grew the snapshot by %d bytes (%d -> %d), want 100 MiB", grown, before.Size, carried.Size)
	}
	if storagePool != "" {
		p.onPool(storagePool, "spare", replica)
	}

	t.Cleanup(func() { labScript(t, "lxd-daemon", "start", "spare") })
	agents["spare"].signal(syscall.SIGKILL)
	labScript(t, "lxd-daemon", "stop", "spare")
	lab.Until(t, "taken over by "+replica, 30*time.Second, func() error {
		if o := p.owner(); o != replica {
			return fmt.Errorf("owner %q", o)
		}
		_, err := p.served()
		return err
	})
	if got := p.exec(replica, "md5sum", "/data100"); got != sum {
		t.Errorf("after the takeover /data100 is %q, the owner wrote %q", got, sum)
	}
	if storagePool != "" {
		p.onPool(storagePool, replica)
	}
}

// onPool checks that the service's container has its root disk on storage pool pool on
// each of hosts (its expanded devices, profiles included, say where LXD put it).
func (p *poolLab) onPool(pool string, hosts ...string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, h := range hosts {
		srv := p.server(ctx, h)
		if srv == nil {
			p.t.Fatalf("LXD of %s does not answer", h)
		}
		inst, _, err := srv.Client().GetInstance(p.svc)
		if err != nil {
			p.t.Fatalf("%s on %s: %v", p.svc, h, err)
		}
		got := ""
		for _, d := range inst.ExpandedDevices {
			if d["type"] == "disk" && d["path"] == "/" {
				got = d["pool"]
			}
		}
		if got != pool {
			p.t.Errorf("%s on %s has its root disk on pool %q, want %q", p.svc, h, got, pool)
		}
	}
}

// TestLabPoolAgentExitCodes: -pool -host exits 2 for a host that is no pool host and
// for -pool with neither -plan nor -host, and 1 (naming the endpoint) when etcd does
// not answer at start.
func TestLabPoolAgentExitCodes(t *testing.T) {
	lab.Need(t, "ETCD")
	path, _ := poolInventory(t, fmt.Sprintf("exit%d", time.Now().UnixNano()%1e9), "")
	down, _ := poolInventory(t, "exitdown", `"http://127.0.0.1:9"`)
	for _, tt := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no pool host", []string{"-config", path, "-pool", "-host", "nosuch"}, 2, "not a pool host"},
		{"neither -plan nor -host", []string{"-config", path, "-pool"}, 2, "-plan (print the pool) or -host"},
		{"both", []string{"-config", path, "-pool", "-plan", "-host", "big"}, 2, "-plan (print the pool) or -host"},
		{"etcd unreachable", []string{"-config", down, "-pool", "-host", "big"}, 1, "127.0.0.1:9"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(binary, tt.args...).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(string(out), tt.says) {
				t.Errorf("exit %d, want %d saying %q:\n%s", code, tt.code, tt.says, out)
			}
		})
	}
}
