package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
)

// Pool is the cooperative pool (shared/DESIGN.md, "pool"; issue 11): the pool hosts are
// the standbys with a Weight, they agree through etcd, and the pooled services run on
// them with replicas placed by the SHA-1 ring (internal/placement).
type Pool struct {
	// Name scopes the pool's keys in etcd: /vcrcovery/<Name>/.
	Name string
	Etcd Etcd
	// LeaseTTL is each host's membership lease: an owner that stops renewing it loses
	// its services after about this long (default 2s, the shortest etcd grants with its
	// default election timeout; whole seconds).
	LeaseTTL time.Duration
	// SnapshotPeriod is how often an owner snapshots its containers and refreshes the
	// replicas (default 30s, the seed paper's period).
	SnapshotPeriod time.Duration
	// Keep is how many committed snapshots per service are kept (default 3).
	Keep int
}

// Etcd says how to reach the pool's etcd cluster.
type Etcd struct {
	// Endpoints are client URLs (http:// or https://host:port).
	Endpoints []string
	// CAFile checks the servers' certificates; CertFile and KeyFile are a client
	// certificate. All empty: plain connections.
	CAFile, CertFile, KeyFile string
	// DialTimeout bounds the first connection (default 2s).
	DialTimeout time.Duration
}

// PooledService is a service of the cooperative pool: it has no primary VM; it runs as
// a container on its owner host and has replicas on other pool hosts.
type PooledService struct {
	Name string
	// ZabbixHost holds the service's pool items (default: Name).
	ZabbixHost string
	// DNSName is the name clients use, canonical, inside DNS.Zone; it points at the
	// owner's container.
	DNSName string
	Probe   Probe
	Hooks   []Hook
	// Replicas is how many other hosts keep a copy (default 1).
	Replicas int
	// Pin places the service at that pool host's ring position (empty: its own hash).
	Pin string
	// Container is the LXD instance name on every host (default: the service name).
	Container string
	// StoragePool is the LXD storage pool the container lives on, on every host: the
	// first start from the backup, each replica copy and so each restore (empty: the
	// pool of the host's default profile). A copy-on-write pool (btrfs) makes the
	// period's snapshot near-instant where a dir pool freezes the container while it
	// copies its files.
	StoragePool string
	// Backup is what the first owner creates the container from.
	Backup Backup
	// TSIGKeyFile and TSIGKey: the service's own key, as Service has.
	TSIGKeyFile string
	TSIGKey     dnsupdate.Key
}

// Defaults of the pool section. The lease and keep defaults are dcs.DefaultTTL and
// dcs.DefaultKeep (a test checks they agree): config does not import dcs, which would
// link the etcd client into every binary.
const (
	defaultPoolLeaseTTL    = 2 * time.Second
	defaultPoolPeriod      = 30 * time.Second
	defaultPoolKeep        = 3
	defaultPoolDialTimeout = 2 * time.Second
	defaultPoolReplicas    = 1
	// minPoolLeaseTTL is the shortest lease etcd grants with its default 1 s election
	// timeout (shared/LAB-NOTES.md).
	minPoolLeaseTTL = 2 * time.Second
	maxPoolKeep     = 100 // dcs: pruning rides in the commit's transaction
	maxPoolWeight   = 1000
	maxPoolReplicas = 16
)

// storagePoolRE is the shape of an LXD storage pool name the inventory accepts: LXD
// itself refuses slashes and names that start with '-' or '.'; this is stricter, so a
// typo shows at load, not at the first copy.
var storagePoolRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?$`)

// PoolHosts are the standbys that take part in the pool (those with a Weight).
func (inv *Inventory) PoolHosts() []Standby {
	var hs []Standby
	for _, s := range inv.Standbys {
		if s.Weight > 0 {
			hs = append(hs, s)
		}
	}
	return hs
}

// PooledService returns the pooled service named name.
func (inv *Inventory) PooledService(name string) (*PooledService, bool) {
	for i := range inv.Pooled {
		if inv.Pooled[i].Name == name {
			return &inv.Pooled[i], true
		}
	}
	return nil, false
}

func (b *builder) pool(r *rawPool) *Pool {
	if r == nil {
		return nil
	}
	p := &Pool{
		Name:           r.Name,
		LeaseTTL:       b.duration("pool.lease_ttl", r.LeaseTTL, defaultPoolLeaseTTL),
		SnapshotPeriod: b.duration("pool.snapshot_period", r.SnapshotPeriod, defaultPoolPeriod),
		Keep:           deref(r.Keep, defaultPoolKeep),
		Etcd: Etcd{
			CAFile:      b.path(r.Etcd.CAFile),
			CertFile:    b.path(r.Etcd.CertFile),
			KeyFile:     b.secretFile("pool.etcd.key_file", r.Etcd.KeyFile, r.Etcd.CertFile != ""),
			DialTimeout: b.duration("pool.etcd.dial_timeout", r.Etcd.DialTimeout, defaultPoolDialTimeout),
		},
	}
	switch {
	case p.Name == "":
		b.add("pool.name", "required")
	case !nameRE.MatchString(p.Name):
		b.add("pool.name", "must be lower-case letters, digits, '.', '_' or '-' (at most 63), got %q", p.Name)
	}
	if len(r.Etcd.Endpoints) == 0 {
		b.add("pool.etcd.endpoints", "at least one etcd client URL is required")
	}
	for i, e := range r.Etcd.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" {
			b.add(fmt.Sprintf("pool.etcd.endpoints[%d]", i), "must be an http or https URL with host:port, got %q", e)
			continue
		}
		p.Etcd.Endpoints = append(p.Etcd.Endpoints, e)
	}
	if r.Etcd.KeyFile != "" && r.Etcd.CertFile == "" {
		b.add("pool.etcd.cert_file", "required with key_file")
	}
	if p.LeaseTTL > 0 && (p.LeaseTTL < minPoolLeaseTTL || p.LeaseTTL%time.Second != 0) {
		b.add("pool.lease_ttl", "must be whole seconds, at least %s (etcd leases count in seconds), got %s", minPoolLeaseTTL, p.LeaseTTL)
	}
	if p.SnapshotPeriod > 0 && p.SnapshotPeriod < p.LeaseTTL {
		b.add("pool.snapshot_period", "must be at least lease_ttl (%s), got %s", p.LeaseTTL, p.SnapshotPeriod)
	}
	if p.Keep < 1 || p.Keep > maxPoolKeep {
		b.add("pool.keep", "must be 1-%d, got %d", maxPoolKeep, p.Keep)
	}
	return p
}

// weight checks a standby's pool weight (0: not a pool host).
func (b *builder) weight(path string, w *int) int {
	if w == nil {
		return 0
	}
	if *w < 1 || *w > maxPoolWeight {
		b.add(path, "must be 1-%d (leave it out for a standby outside the pool), got %d", maxPoolWeight, *w)
		return 0
	}
	return *w
}

// pooledService builds a services entry with a pool section. poolHosts are the names of
// the standbys with a weight; hasPool says whether the inventory has a pool section.
func (b *builder) pooledService(p string, r *rawService, zone string, poolHosts map[string]bool, hasPool bool) PooledService {
	rp := r.Pool
	s := PooledService{
		Name:        r.Name,
		ZabbixHost:  r.ZabbixHost,
		DNSName:     b.dnsName(p+".dns_name", r.DNSName, zone),
		Probe:       b.probe(p+".probe", &r.Probe),
		Replicas:    deref(rp.Replicas, defaultPoolReplicas),
		Pin:         rp.Pin,
		Container:   rp.Container,
		StoragePool: rp.StoragePool,
	}
	s.TSIGKeyFile, s.TSIGKey = b.serviceKey(p, r.TSIGKeyFile)
	s.Hooks, _ = b.hooks(p+".hooks", r.Hooks, false)
	if s.ZabbixHost == "" {
		s.ZabbixHost = s.Name
	}
	if s.Container == "" {
		s.Container = s.Name
	}
	if !hasPool {
		b.add(p+".pool", "a pooled service needs the inventory's pool section")
	}
	// A pooled service has no primary VM and no standby of its own: fields that would
	// make trapd, sender or recover treat it as one are refused rather than ignored.
	for _, f := range []struct {
		key string
		set bool
	}{{"hypervisor", r.Hypervisor != ""}, {"vm_uuid", r.VMUUID != ""}, {"primary_address", r.PrimaryAddress != ""},
		{"standby", r.Standby != (rawServiceStandby{})}, {"fast_path", r.FastPath},
		{"sync", r.Sync != nil}, {"failback", r.Failback != (rawFailback{})}} {
		if f.set {
			b.add(p+"."+f.key, "not allowed in a pooled service (it has no primary VM; the pool agent owns it)")
		}
	}
	if s.Replicas < 0 || s.Replicas > maxPoolReplicas {
		b.add(p+".pool.replicas", "must be 0-%d, got %d", maxPoolReplicas, s.Replicas)
	}
	if s.Pin != "" && !poolHosts[s.Pin] {
		b.add(p+".pool.pin", "no standbys entry with a weight (a pool host) named %q", s.Pin)
	}
	if !containerRE.MatchString(s.Container) {
		b.add(p+".pool.container", "must be an LXD instance name (letters, digits, '-', starting with a letter, at most 63), got %q", s.Container)
	}
	if s.StoragePool != "" && !storagePoolRE.MatchString(s.StoragePool) {
		b.add(p+".pool.storage_pool", "must be an LXD storage pool name (letters, digits, '_', '.', '-', at most 63), got %q", s.StoragePool)
	}
	s.Backup = b.backup(p+".pool.backup", rp.Backup)
	return s
}

// ProtectedService returns the protected service named name, or an error for the
// operator that says why not: no such service (naming those there are), or a pooled
// service, which no recover or migrate run may touch because its pool agent owns it.
func (inv *Inventory) ProtectedService(name string) (*Service, error) {
	if s, ok := inv.Service(name); ok {
		return s, nil
	}
	if _, ok := inv.PooledService(name); ok {
		return nil, fmt.Errorf("service %q is a pooled service: its pool agent (vcr-migrate -pool) owns it, see vcr-migrate -pool -plan", name)
	}
	names := make([]string, 0, len(inv.Services))
	for _, s := range inv.Services {
		names = append(names, s.Name)
	}
	return nil, fmt.Errorf("no service %q in the inventory (have: %s)", name, strings.Join(names, ", "))
}
