package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/dcs"
	"github.com/vcrcovery/vcrcovery/internal/ratelog"
)

// Fakes of the agent's peers (seam.go) for the unit tests of its decisions. Every
// call that changes something (etcd writes, container state, snapshots, copies, DNS
// updates) is recorded in one ordered journal, so that a test states exactly what
// the agent did and in which order; reads are not recorded.

// errEtcdDown is what the fake store and session return while etcd "does not answer".
var errEtcdDown = fmt.Errorf("fake: %w", dcs.ErrUnreachable)

// journal is the ordered record of the fakes' actions, safe for the agent's goroutines.
type journal struct {
	mu      sync.Mutex
	actions []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.actions = append(j.actions, fmt.Sprintf(format, args...))
}

func (j *journal) get() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.actions)
}

// clock is the agent's injected clock; tests move it by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fakeStore is the pool's etcd state as the agent reads it (Store).
type fakeStore struct {
	mu     sync.Mutex
	ttl    time.Duration
	owner  dcs.Owner
	live   []string
	latest *dcs.Snapshot
	// down makes every read fail as etcd unreachable; downOwner, downMembers and
	// downLatest only that read.
	down, downOwner, downMembers, downLatest bool
}

func (f *fakeStore) TTL() time.Duration { return f.ttl }

func (f *fakeStore) Owner(ctx context.Context, service string) (dcs.Owner, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down || f.downOwner {
		return dcs.Owner{}, errEtcdDown
	}
	return f.owner, nil
}

func (f *fakeStore) Members(ctx context.Context) (dcs.Members, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down || f.downMembers {
		return dcs.Members{}, errEtcdDown
	}
	m := dcs.Members{Live: map[string]dcs.Member{}}
	for _, h := range f.live {
		m.Live[h] = dcs.Member{Host: h}
	}
	return m, nil
}

func (f *fakeStore) Latest(ctx context.Context, service string) (dcs.Snapshot, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down || f.downLatest {
		return dcs.Snapshot{}, false, errEtcdDown
	}
	if f.latest == nil {
		return dcs.Snapshot{}, false, nil
	}
	return *f.latest, true, nil
}

func (f *fakeStore) Snapshots(ctx context.Context, service string) ([]dcs.Snapshot, error) {
	s, ok, err := f.Latest(ctx, service)
	if err != nil || !ok {
		return nil, err
	}
	return []dcs.Snapshot{s}, nil
}

// fakeSession is this host's session (Session): claims win unless lose is set.
type fakeSession struct {
	j     *journal
	host  string
	lease int64
	ttl   time.Duration
	store *fakeStore
	// lose makes a claim find another owner; refuse makes a transfer find the key changed;
	// down makes the writes fail as etcd unreachable.
	lose, refuse, down bool

	mu   sync.Mutex
	err  error
	done chan struct{}
}

func newFakeSession(j *journal, st *fakeStore, host string, lease int64) *fakeSession {
	return &fakeSession{j: j, host: host, lease: lease, ttl: st.ttl, store: st, done: make(chan struct{})}
}

// end ends the session as etcd saying that its lease is gone.
func (s *fakeSession) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = dcs.ErrLeaseLost
	close(s.done)
}

func (s *fakeSession) mine() dcs.Owner {
	return dcs.Owner{Host: s.host, Lease: s.lease, CreateRevision: 100, ModRevision: 100}
}

func (s *fakeSession) TTL() time.Duration    { return s.ttl }
func (s *fakeSession) Done() <-chan struct{} { return s.done }
func (s *fakeSession) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
func (s *fakeSession) Owns(o dcs.Owner) bool {
	return o.Exists() && o.Host == s.host && o.Lease == s.lease
}

func (s *fakeSession) Claim(ctx context.Context, service string) (bool, dcs.Owner, error) {
	s.j.add("claim %s", service)
	switch {
	case s.down:
		return false, dcs.Owner{}, errEtcdDown
	case s.lose:
		return false, dcs.Owner{Host: "rival", Lease: 7, CreateRevision: 99, ModRevision: 99}, nil
	}
	s.setOwner(s.mine())
	return true, s.mine(), nil
}

func (s *fakeSession) Transfer(ctx context.Context, service string, seen dcs.Owner) (bool, dcs.Owner, error) {
	s.j.add("transfer %s from lease %d rev %d", service, seen.Lease, seen.ModRevision)
	switch {
	case s.down:
		return false, dcs.Owner{}, errEtcdDown
	case s.refuse:
		return false, dcs.Owner{Host: "rival", Lease: 7, CreateRevision: 99, ModRevision: 99}, nil
	}
	s.setOwner(s.mine())
	return true, s.mine(), nil
}

func (s *fakeSession) setOwner(o dcs.Owner) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.store.owner = o
}

func (s *fakeSession) Commit(ctx context.Context, service string, snap dcs.Snapshot) (dcs.Snapshot, error) {
	s.j.add("commit %s %s on %v at %s size %d", service, snap.Name, snap.Replicas, snap.Address, snap.Size)
	if s.down {
		return dcs.Snapshot{}, errEtcdDown
	}
	snap.Owner = s.host
	s.store.mu.Lock()
	s.store.latest = &snap
	s.store.mu.Unlock()
	return snap, nil
}

func (s *fakeSession) Release(ctx context.Context, service string) error {
	s.j.add("release %s", service)
	s.setOwner(dcs.Owner{})
	return nil
}

func (s *fakeSession) Close(ctx context.Context) error {
	s.j.add("close session %d", s.lease)
	return nil
}

// fakeCtr is one container on a fake server.
type fakeCtr struct {
	running bool
	snaps   []string
	// devices are its own devices; size the bytes of its files.
	devices map[string]map[string]string
	size    int64
}

// fakeServer is one pool host's LXD server (Server).
type fakeServer struct {
	j    *journal
	host string
	ip   netip.Addr
	// networks are its managed networks; usage makes it report disk usage (a driver
	// with quotas), otherwise only du inside a running container tells the size.
	networks []string
	usage    bool

	mu   sync.Mutex
	ctrs map[string]*fakeCtr
}

func (f *fakeServer) ctr(name string) (*fakeCtr, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[name]
	return c, ok
}

func (f *fakeServer) Exists(ctx context.Context, name string) (bool, error) {
	_, ok := f.ctr(name)
	return ok, nil
}

func (f *fakeServer) Live(ctx context.Context, name string) (bool, error) {
	c, ok := f.ctr(name)
	return ok && c.running, nil
}

func (f *fakeServer) Ensure(ctx context.Context, spec container.Spec) (container.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[spec.Name]
	if ok && c.running {
		return container.Outcome{}, nil // left alone: not an action
	}
	f.j.add("%s start %s%s", f.host, spec.Name, onPool(spec.StoragePool))
	if !ok {
		c = &fakeCtr{}
		f.ctrs[spec.Name] = c
	}
	c.running = true
	return container.Outcome{Created: !ok, Started: true}, nil
}

func (f *fakeServer) Stop(ctx context.Context, name string) error {
	f.j.add("%s stop %s", f.host, name)
	return f.setRunning(name, false)
}

func (f *fakeServer) StopGraceful(ctx context.Context, name string, timeout time.Duration) (bool, error) {
	f.j.add("%s stop gracefully %s", f.host, name)
	return false, f.setRunning(name, false)
}

func (f *fakeServer) setRunning(name string, running bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[name]
	if !ok {
		return container.ErrMissing
	}
	c.running = running
	return nil
}

func (f *fakeServer) Delete(ctx context.Context, name string) error {
	f.j.add("%s delete %s", f.host, name)
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ctrs, name)
	return nil
}

func (f *fakeServer) WaitIPv4(ctx context.Context, name, iface string) (netip.Addr, error) {
	if c, ok := f.ctr(name); !ok || !c.running {
		return netip.Addr{}, errors.New("fake: not running")
	}
	return f.ip, nil
}

func (f *fakeServer) Snapshot(ctx context.Context, name, snap string) error {
	f.j.add("%s snapshot %s", f.host, name)
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[name]
	if !ok {
		return container.ErrMissing
	}
	c.snaps = append(c.snaps, snap)
	return nil
}

func (f *fakeServer) Snapshots(ctx context.Context, name string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[name]
	if !ok {
		return nil, container.ErrMissing
	}
	return slices.Clone(c.snaps), nil
}

func (f *fakeServer) DeleteSnapshot(ctx context.Context, name, snap string) error {
	f.j.add("%s delete snapshot %s/%s", f.host, name, snap)
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.ctrs[name]; ok {
		c.snaps = slices.DeleteFunc(c.snaps, func(s string) bool { return s == snap })
	}
	return nil
}

func (f *fakeServer) Restore(ctx context.Context, name, snap string) error {
	f.j.add("%s restore %s/%s", f.host, name, snap)
	return nil
}

func (f *fakeServer) Inspect(ctx context.Context, name string) (container.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[name]
	if !ok {
		return container.Info{}, container.ErrMissing
	}
	info := container.Info{Name: name, Running: c.running, Devices: c.devices, DiskBytes: -1}
	if f.usage {
		info.DiskBytes = c.size
	}
	return info, nil
}

func (f *fakeServer) DuUsage(ctx context.Context, name string) (int64, error) {
	c, ok := f.ctr(name)
	if !ok || !c.running {
		return 0, errors.New("fake: du: not running")
	}
	return c.size, nil
}

func (f *fakeServer) ManagedNetwork(ctx context.Context, name string) (bool, error) {
	return slices.Contains(f.networks, name), nil
}

// fakeCopy is the server-to-server copy between fake servers: the target gets a
// stopped container with the source's snapshots, devices and files.
func fakeCopy(ctx context.Context, dst, src Server, name string, o container.CopyOptions) error {
	d, s := dst.(*fakeServer), src.(*fakeServer)
	d.j.add("copy %s %s -> %s (refresh %t)%s", name, s.host, d.host, o.Refresh, onPool(o.StoragePool))
	from, ok := s.ctr(name)
	if !ok {
		return container.ErrMissing
	}
	s.mu.Lock()
	c := &fakeCtr{snaps: slices.Clone(from.snaps), devices: from.devices, size: from.size}
	s.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ctrs[name] = c
	return nil
}

// onPool is how the journal shows a storage pool given to Ensure or a copy (none: as
// before storage pools, so that the other tests' journals stay as they were).
func onPool(pool string) string {
	if pool == "" {
		return ""
	}
	return " on pool " + pool
}

// fakeNames is the DNS (Names): one name's addresses.
type fakeNames struct {
	j     *journal
	mu    sync.Mutex
	addrs map[string][]netip.Addr
}

func (f *fakeNames) Lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.addrs[name]), nil
}

func (f *fakeNames) Create(ctx context.Context, name string, to netip.Addr) error {
	f.j.add("dns create %s %s", name, to)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs[name] = []netip.Addr{to}
	return nil
}

func (f *fakeNames) Switch(ctx context.Context, name string, from, to netip.Addr) error {
	f.j.add("dns switch %s %s -> %s", name, from, to)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Equal(f.addrs[name], []netip.Addr{from}) {
		return errors.New("fake: compare-and-set failed")
	}
	f.addrs[name] = []netip.Addr{to}
	return nil
}

// listen serves TCP on the loopback (the service's probe port), accepting and closing
// every connection, until the test ends.
func listen(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// Addresses of the tests: the probe port listens on answering only; silent refuses.
var (
	answering = netip.MustParseAddr("127.0.0.1")
	silent    = netip.MustParseAddr("127.0.0.2")
)

// rig is one agent with fakes for every peer: pool hosts h1..hN (weight 1) that are
// all live unless a test says otherwise, and pooled services each in a container of
// its own name.
type rig struct {
	t       *testing.T
	j       *journal
	clock   *clock
	store   *fakeStore
	sess    *fakeSession
	servers map[string]*fakeServer
	names   *fakeNames
	a       *Agent
	port    int
}

const (
	rigTTL   = 2 * time.Second
	rigLease = 42
)

// rigStart is the rig's clock at first; rigSnap the name of a snapshot taken then.
var (
	rigStart = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	rigSnap  = snapPrefix + strconv.FormatInt(rigStart.UnixMilli(), 10)
)

func newRig(t *testing.T, self string, hosts []string, services ...string) *rig {
	t.Helper()
	j := &journal{}
	r := &rig{
		t: t, j: j, clock: &clock{t: rigStart},
		store:   &fakeStore{ttl: rigTTL, live: hosts},
		servers: map[string]*fakeServer{},
		names:   &fakeNames{j: j, addrs: map[string][]netip.Addr{}},
		port:    listen(t),
	}
	r.sess = newFakeSession(j, r.store, self, rigLease)
	inv := &config.Inventory{
		Pool:  &config.Pool{Name: "test", LeaseTTL: rigTTL, SnapshotPeriod: 30 * time.Second, Keep: 3},
		Fence: config.Fence{PortTimeout: 50 * time.Millisecond},
	}
	for _, h := range hosts {
		inv.Standbys = append(inv.Standbys, config.Standby{Name: h, Weight: 1})
		// The agent only asks its own server for an address: the one that answers.
		r.servers[h] = &fakeServer{j: j, host: h, ctrs: map[string]*fakeCtr{}, ip: answering}
	}
	for _, s := range services {
		inv.Pooled = append(inv.Pooled, config.PooledService{
			Name: s, Container: s, DNSName: s + ".pool.test.", Replicas: 1,
			Probe: config.Probe{Ports: []int{r.port}, Timeout: 2 * time.Second},
		})
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.a = &Agent{Inventory: inv, Host: self, Log: log, Tick: 5 * time.Millisecond, StopTimeout: time.Second}
	r.a.peers = peers{
		store: r.store,
		join: func(ctx context.Context, host string) (Session, error) {
			j.add("join %s", host)
			return r.sess, nil
		},
		dial: func(ctx context.Context, h config.Standby) (Server, error) {
			if s, ok := r.servers[h.Name]; ok {
				return s, nil
			}
			return nil, fmt.Errorf("fake: LXD of %s unreachable", h.Name)
		},
		copy:  fakeCopy,
		names: r.names,
		now:   r.clock.now,
	}
	return r
}

// ready makes the rig's agent what Run makes it before the services' loops start.
func (r *rig) ready() {
	r.a.wire()
	r.a.own = r.servers[r.a.Host]
	r.a.rate = ratelog.New(r.a.Log, 10*time.Second)
	r.a.sess = r.sess
}

// service returns the agent's handling of the pooled service named name.
func (r *rig) service(name string) *service {
	ps, ok := r.a.Inventory.PooledService(name)
	if !ok {
		r.t.Fatalf("no pooled service %s", name)
	}
	return newService(r.a, *ps)
}

// put gives host a container, running or stopped, holding snaps.
func (r *rig) put(host, name string, running bool, snaps ...string) {
	r.servers[host].ctrs[name] = &fakeCtr{running: running, snaps: snaps}
}

// testWriter sends the agent's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}
