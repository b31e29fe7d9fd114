// Package pool is the cooperative pool's agent, `vcr-migrate -pool -host NAME` (issue
// 11; shared/DESIGN.md, "Cooperative backup between servers"): one daemon on each pool
// host. It keeps the host's etcd session (internal/dcs), and for every pooled service
// it either owns the service (keeps its container running, snapshots it every period,
// refreshes the snapshot onto the replica hosts, commits it in etcd once every copy was
// checked, keeps K, removes copies from hosts that no longer hold one), or holds a
// replica (a stopped copy), or takes the service over when nobody owns it: the first
// live holder of the latest committed snapshot in ring order claims it with an etcd
// transaction, fences the last owner, restores the snapshot, starts, probes and moves
// the DNS name with the same compare-and-set as vcr-recover.
//
// Safety rules, in the order they are checked on every tick ("runs" counts a container
// frozen by a snapshot, which serves again when thawed: Server.Live):
//   - etcd does not answer: nothing changes; an owner keeps serving, nobody takes
//     over (a quorum loss never expires a lease by itself; Patroni's failsafe lesson).
//   - the session's lease is lost (etcd says so): every pooled container running here
//     stops first, before anything else, since another host may own it now.
//   - the service is owned by another host: a copy running here is stale and stops.
//   - a claim is won: before starting anything, every other pool host whose LXD API
//     answers has its copy stopped, and the last owner's address must be silent on
//     the service's ports; otherwise the claim is released and nothing starts.
//   - the DNS name moves only from the address the last commit recorded (or is
//     created when it has none); any other address is refused, never overwritten.
package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/dcs"
	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/ratelog"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Agent is one pool host's agent.
type Agent struct {
	Inventory *config.Inventory
	// Host is this pool host: a standbys entry with a weight.
	Host string
	DCS  *dcs.Client
	DNS  *dnsupdate.Client
	// Zabbix receives the vcr.pool.* items of the services this host owns; nil: none.
	Zabbix *zabbix.Sender
	Log    *slog.Logger
	// Tick is how often each service's owner is read (default an eighth of the TTL:
	// a takeover starts at most that long after the lease expired).
	Tick time.Duration
	// StopTimeout bounds a graceful stop of an owned container when the agent steps
	// down (default 5s).
	StopTimeout time.Duration

	// peers are DCS, DNS and the LXD servers behind the seams of seam.go.
	peers
	own  Server
	rate *ratelog.Limiter
	// settled is a TTL after the first join: until then the agent claims nothing, so
	// that hosts started together all count in the placement of a first start.
	settled time.Time

	mu   sync.Mutex
	sess Session
}

// ErrNotPoolHost: Host is not a standbys entry with a weight.
var ErrNotPoolHost = errors.New("not a pool host (a standbys entry with a weight)")

func (a *Agent) standby(name string) (config.Standby, bool) {
	for _, h := range a.Inventory.PoolHosts() {
		if h.Name == name {
			return h, true
		}
	}
	return config.Standby{}, false
}

func (a *Agent) session() Session {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sess
}

// Run joins the pool and serves until ctx ends, then steps down: the services it owns
// get a final snapshot while stopped (committed if the replicas took it), their
// containers stop, and the lease is revoked so that the replicas take over at once.
// It returns an error only when it cannot start: the host is no pool host, its own
// LXD server or etcd cannot be reached.
func (a *Agent) Run(ctx context.Context) error {
	if a.Log == nil {
		a.Log = slog.New(slog.DiscardHandler)
	}
	a.wire()
	if a.Tick == 0 {
		a.Tick = a.store.TTL() / 8
	}
	if a.StopTimeout == 0 {
		a.StopTimeout = 5 * time.Second
	}
	a.rate = ratelog.New(a.Log, 10*time.Second)
	sb, ok := a.standby(a.Host)
	if !ok {
		return fmt.Errorf("pool host %s: %w", a.Host, ErrNotPoolHost)
	}
	// Not bound to ctx: the step-down after ctx ends still needs the host's own server.
	own, err := a.dial(context.WithoutCancel(ctx), sb)
	if err != nil {
		return fmt.Errorf("pool host %s: its own LXD server: %w", a.Host, err)
	}
	a.own = own
	// Bounded: at start, an etcd that does not answer is an error to report (exit 1),
	// not a wait; later, the session rides out etcd's absences.
	jctx, cancel := context.WithTimeout(ctx, 3*a.store.TTL())
	sess, err := a.join(jctx, a.Host)
	cancel()
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.sess = sess
	a.mu.Unlock()
	a.settled = a.now().Add(sess.TTL())

	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	services := make([]*service, 0, len(a.Inventory.Pooled))
	for _, ps := range a.Inventory.Pooled {
		s := newService(a, ps)
		services = append(services, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(sctx)
		}()
	}
	a.Log.Info("pool agent running", "host", a.Host, "pool", a.Inventory.Pool.Name, "services", len(services))
	for {
		select {
		case <-ctx.Done():
			stop()
			wg.Wait()
			a.stepDown(services)
			return nil
		case <-sess.Done():
		}
		// etcd says the lease is gone: another host may own our services by now.
		a.Log.Error("pool session ended: stopping every pooled container here before rejoining", "host", a.Host, "err", sess.Err())
		a.stopAll(ctx, services)
		for ctx.Err() == nil {
			if sess, err = a.join(ctx, a.Host); err == nil {
				break
			}
			a.rate.Log(slog.LevelWarn, "rejoin", "cannot rejoin the pool", "host", a.Host, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(a.store.TTL() / 3):
			}
		}
		if ctx.Err() != nil {
			continue
		}
		a.mu.Lock()
		a.sess = sess
		a.mu.Unlock()
	}
}

// stopAll stops every pooled container that runs here.
func (a *Agent) stopAll(ctx context.Context, services []*service) {
	for _, s := range services {
		if running, err := a.own.Live(ctx, s.cfg.Container); err == nil && running {
			if err := a.own.Stop(ctx, s.cfg.Container); err != nil {
				a.Log.Error("cannot stop a pooled container", "service", s.cfg.Name, "err", err)
			}
		}
	}
}

// stepDown ends the session after a last snapshot of every owned service.
func (a *Agent) stepDown(services []*service) {
	ctx, cancel := context.WithTimeout(context.Background(), a.StopTimeout+a.Inventory.Pool.SnapshotPeriod)
	defer cancel()
	sess := a.session()
	for _, s := range services {
		o, err := a.store.Owner(ctx, s.cfg.Name)
		if err != nil || !sess.Owns(o) {
			continue
		}
		if _, err := a.own.StopGraceful(ctx, s.cfg.Container, a.StopTimeout); err != nil {
			a.Log.Error("step down: cannot stop the container", "service", s.cfg.Name, "err", err)
			continue
		}
		// Stopped, the container's files are consistent and final: the replicas that
		// take this snapshot lose nothing of what it wrote.
		if err := s.replicate(ctx, sess); err != nil {
			a.Log.Warn("step down: no final snapshot; the replicas take over from the last commit", "service", s.cfg.Name, "err", err)
		}
	}
	if err := sess.Close(ctx); err != nil {
		a.Log.Warn("step down: lease not revoked; it expires after its TTL", "err", err)
	}
}

// connect opens another pool host's LXD server for one bounded task.
func (a *Agent) connect(ctx context.Context, host string) (Server, error) {
	if host == a.Host {
		return a.own, nil
	}
	sb, ok := a.standby(host)
	if !ok {
		return nil, fmt.Errorf("pool host %s: %w", host, ErrNotPoolHost)
	}
	return a.dial(ctx, sb)
}
