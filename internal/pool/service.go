package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/dcs"
	"github.com/vcrcovery/vcrcovery/internal/placement"
	"github.com/vcrcovery/vcrcovery/internal/probe"
	"github.com/vcrcovery/vcrcovery/internal/recovery"
)

// iface is the containers' network interface (the busybox and Debian images' eth0).
const iface = "eth0"

// service is one pooled service as this agent handles it.
type service struct {
	a   *Agent
	cfg config.PooledService
	ps  placement.Service

	// noOwnerSince is when this agent first saw the service without an owner in the
	// current gap; zero while it has one. A candidate's claim delay counts from it.
	noOwnerSince time.Time
	// retryAfter holds a failed takeover back for a TTL, so that a fence that fails
	// (the last owner's port still answers) is not retried on every tick.
	retryAfter time.Time
	// nextSnapshot is when the owner takes its next snapshot; zero: at once.
	nextSnapshot time.Time
	// addr is the owned container's address, as committed with each snapshot.
	addr netip.Addr
}

func newService(a *Agent, ps config.PooledService) *service {
	return &service{a: a, cfg: ps, ps: placement.Service{Name: ps.Name, Pin: ps.Pin, Replicas: ps.Replicas}}
}

// spec is what Ensure makes of the service's container when it is missing: from the
// backup, on the service's storage pool.
func (s *service) spec() container.Spec {
	return container.Spec{Name: s.cfg.Container, Backup: s.cfg.Backup, StoragePool: s.cfg.StoragePool}
}

func (s *service) loop(ctx context.Context) {
	t := time.NewTicker(s.a.Tick)
	defer t.Stop()
	for {
		s.tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tick reads the owner and does what it calls for (the package comment's rules).
func (s *service) tick(ctx context.Context) {
	a := s.a
	sess := a.session()
	if sess.Err() != nil {
		return // Run stops everything and rejoins
	}
	o, err := a.store.Owner(ctx, s.cfg.Name)
	if err != nil {
		if ctx.Err() == nil {
			a.rate.Log(slog.LevelWarn, "owner:"+s.cfg.Name, "cannot read the owner: no takeover, no demotion until etcd answers",
				"service", s.cfg.Name, "err", err)
		}
		return
	}
	switch {
	case sess.Owns(o):
		s.noOwnerSince = time.Time{}
		s.serve(ctx, sess)
	case o.Exists() && o.Host == a.Host:
		// This host's earlier run (restarted agent): its lease will expire, but the
		// container here is the service's; take the key over rather than fail over.
		if ok, cur, err := sess.Transfer(ctx, s.cfg.Name, o); err != nil || !ok {
			a.rate.Log(slog.LevelWarn, "transfer:"+s.cfg.Name, "cannot take back the ownership of an earlier run", "service", s.cfg.Name, "owner", cur.Host, "err", err)
			return
		}
		a.Log.Info("took back the ownership of this host's earlier run", "service", s.cfg.Name, "host", a.Host)
		s.serve(ctx, sess)
	case o.Exists():
		s.noOwnerSince = time.Time{}
		s.stopStale(ctx, o.Host)
	default:
		s.orphan(ctx, sess)
	}
}

// stopStale stops a copy running here while owner owns the service.
func (s *service) stopStale(ctx context.Context, owner string) {
	running, err := s.a.own.Live(ctx, s.cfg.Container)
	if err != nil || !running {
		return
	}
	s.a.Log.Warn("a copy runs here but another host owns the service: stopping it", "service", s.cfg.Name, "owner", owner, "host", s.a.Host)
	if err := s.a.own.Stop(ctx, s.cfg.Container); err != nil {
		s.a.Log.Error("cannot stop a stale copy", "service", s.cfg.Name, "err", err)
	}
}

// serve is the owner's duty: the container runs, and a snapshot is due every period.
func (s *service) serve(ctx context.Context, sess Session) {
	a := s.a
	if _, err := a.own.Ensure(ctx, s.spec()); err != nil {
		a.rate.Log(slog.LevelError, "ensure:"+s.cfg.Name, "the owned container does not run", "service", s.cfg.Name, "err", err)
		return
	}
	if !s.addr.IsValid() {
		actx, cancel := context.WithTimeout(ctx, s.cfg.Probe.Timeout)
		ip, err := a.own.WaitIPv4(actx, s.cfg.Container, iface)
		cancel()
		if err != nil {
			a.rate.Log(slog.LevelError, "addr:"+s.cfg.Name, "the owned container has no address", "service", s.cfg.Name, "err", err)
			return
		}
		s.addr = ip
	}
	now := a.now()
	if now.Before(s.nextSnapshot) {
		return
	}
	s.nextSnapshot = now.Add(a.Inventory.Pool.SnapshotPeriod)
	// Bounded, so that a hung copy cannot stop the owner's loop; but a refresh may take
	// longer than a short period, and an unfinished one is wasted.
	rctx, cancel := context.WithTimeout(ctx, max(a.Inventory.Pool.SnapshotPeriod, time.Minute))
	defer cancel()
	if err := s.replicate(rctx, sess); err != nil && ctx.Err() == nil {
		a.Log.Error("snapshot not committed", "service", s.cfg.Name, "err", err)
	}
}

// live returns the ring of the pool hosts with a live lease.
func (a *Agent) live(ctx context.Context) (*placement.Ring, error) {
	m, err := a.store.Members(ctx)
	if err != nil {
		return nil, err
	}
	var hs []placement.Host
	for _, h := range a.Inventory.PoolHosts() {
		if _, ok := m.Live[h.Name]; ok {
			hs = append(hs, placement.Host{Name: h.Name, Weight: h.Weight})
		}
	}
	return placement.New(hs, placement.Options{})
}

// orphan handles a service without an owner: this host claims it when it is the
// candidate whose turn it is.
func (s *service) orphan(ctx context.Context, sess Session) {
	a := s.a
	now := a.now()
	if s.noOwnerSince.IsZero() {
		s.noOwnerSince = now
	}
	if now.Before(s.retryAfter) || now.Before(s.a.settled) {
		return
	}
	ring, err := a.live(ctx)
	if err != nil {
		return
	}
	latest, ok, err := a.store.Latest(ctx, s.cfg.Name)
	if err != nil {
		return
	}
	var lp *dcs.Snapshot
	if ok {
		lp = &latest
	}
	cands := Candidates(ring, s.ps, lp)
	rank := slices.Index(cands, a.Host)
	if rank < 0 {
		if len(cands) == 0 {
			a.rate.Log(slog.LevelError, "nocand:"+s.cfg.Name, "no live pool host holds the latest committed snapshot: nobody can take the service over",
				"service", s.cfg.Name, "snapshot", latest.Name, "holders", latest.Replicas)
		}
		return
	}
	if lp != nil {
		// The commit says this host was checked to hold it; the copy must still be here.
		names, err := a.own.Snapshots(ctx, s.cfg.Container)
		if err != nil || !slices.Contains(names, latest.Name) {
			a.rate.Log(slog.LevelError, "lacks:"+s.cfg.Name, "this host should hold the latest snapshot but does not: not claiming",
				"service", s.cfg.Name, "snapshot", latest.Name, "err", err)
			return
		}
	}
	if now.Before(s.noOwnerSince.Add(ClaimDelay(rank, sess.TTL()))) {
		return
	}
	won, _, err := sess.Claim(ctx, s.cfg.Name)
	if err != nil || !won {
		return // another candidate was first (or etcd did not answer): the next tick sees it
	}
	s.noOwnerSince = time.Time{}
	a.Log.Info("claimed the service", "service", s.cfg.Name, "host", a.Host, "rank", rank, "candidates", cands)
	if err := s.takeover(ctx, lp); err != nil {
		s.retryAfter = a.now().Add(sess.TTL())
		a.Log.Error("takeover failed: releasing the service", "service", s.cfg.Name, "host", a.Host, "err", err)
		if running, rerr := a.own.Live(ctx, s.cfg.Container); rerr == nil && running {
			if serr := a.own.Stop(ctx, s.cfg.Container); serr != nil {
				a.Log.Error("cannot stop the container after a failed takeover", "service", s.cfg.Name, "err", serr)
			}
		}
		if err := sess.Release(ctx, s.cfg.Name); err != nil {
			a.Log.Warn("release after a failed takeover", "service", s.cfg.Name, "err", err)
		}
		return
	}
	s.nextSnapshot = time.Time{} // restore the replica count at once
}

// takeover makes this host serve the service it has just claimed, from latest (nil:
// from its backup).
func (s *service) takeover(ctx context.Context, latest *dcs.Snapshot) error {
	a := s.a
	t0 := time.Now()
	name := s.cfg.Name
	step := func(n string, f func() (string, error)) error {
		_, err := recovery.TimeStep(a.Log, time.Now, name, "pool:"+n, f)
		return err
	}
	var last netip.Addr
	if latest != nil && latest.Owner != a.Host {
		last, _ = netip.ParseAddr(latest.Address)
	}
	if err := step("fence", func() (string, error) { return s.fence(ctx, last) }); err != nil {
		return err
	}
	if err := step("restore", func() (string, error) { return s.restore(ctx, latest) }); err != nil {
		return err
	}
	var ip netip.Addr
	if err := step("address", func() (string, error) {
		actx, cancel := context.WithTimeout(ctx, s.cfg.Probe.Timeout)
		defer cancel()
		var err error
		ip, err = a.own.WaitIPv4(actx, s.cfg.Container, iface)
		return ip.String(), err
	}); err != nil {
		return err
	}
	if err := step("probe", func() (string, error) {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.Probe.Timeout)
		defer cancel()
		p := &probe.TCP{Ports: s.cfg.Probe.Ports, Send: s.cfg.Probe.Send, Expect: s.cfg.Probe.Expect}
		_, err := p.Wait(pctx, ip)
		return fmt.Sprint(s.cfg.Probe.Ports), err
	}); err != nil {
		return err
	}
	if err := step("dns", func() (string, error) { return s.publish(ctx, last, ip) }); err != nil {
		return err
	}
	s.addr = ip
	a.Log.Info("took the service over", "service", name, "host", a.Host, "address", ip, "duration_seconds", time.Since(t0).Seconds())
	return nil
}

// fence makes sure no other copy serves: every other pool host whose LXD API answers
// has its copy stopped, and the last owner's address must not answer on any of the
// service's ports (an unreachable host may still run it).
func (s *service) fence(ctx context.Context, last netip.Addr) (string, error) {
	a := s.a
	var evidence []string
	for _, h := range a.Inventory.PoolHosts() {
		if h.Name == a.Host {
			continue
		}
		e, err := s.fenceHost(ctx, h.Name)
		if err != nil {
			return "", err
		}
		evidence = append(evidence, e)
	}
	if last.IsValid() {
		for _, port := range s.cfg.Probe.Ports {
			pctx, cancel := context.WithTimeout(ctx, a.Inventory.Fence.PortTimeout)
			err := (&probe.TCP{Ports: []int{port}, Attempt: a.Inventory.Fence.PortTimeout}).Once(pctx, last)
			cancel()
			if err == nil {
				return "", fmt.Errorf("fence: the last owner's address %s still answers on port %d although no reachable host runs the service: not taking over", last, port)
			}
		}
		evidence = append(evidence, fmt.Sprintf("%s silent on %v", last, s.cfg.Probe.Ports))
	}
	return fmt.Sprint(evidence), nil
}

// fenceHost stops the service's copy on host if it runs there.
func (s *service) fenceHost(ctx context.Context, host string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	srv, err := s.a.connect(cctx, host)
	switch {
	case errors.Is(err, container.ErrUntrusted):
		// It cannot tell us; the last owner's silent port is then the only evidence.
		return host + ": LXD refuses our certificate", nil
	case err != nil:
		return host + ": LXD unreachable", nil
	}
	running, err := srv.Live(cctx, s.cfg.Container)
	switch {
	case err != nil && cctx.Err() != nil:
		return host + ": LXD unreachable", nil
	case err != nil:
		return "", fmt.Errorf("fence: %w", err)
	case !running:
		return host + ": not running", nil
	}
	if err := srv.Stop(cctx, s.cfg.Container); err != nil {
		return "", fmt.Errorf("fence: a copy runs on %s and cannot be stopped: %w", host, err)
	}
	return host + ": stopped its copy", nil
}

// restore makes the local container the latest committed snapshot's and starts it.
func (s *service) restore(ctx context.Context, latest *dcs.Snapshot) (string, error) {
	a := s.a
	c := s.cfg.Container
	running, err := a.own.Live(ctx, c)
	if err != nil {
		return "", err
	}
	if running {
		if latest != nil && latest.Owner == a.Host {
			// This host committed the latest snapshot and its container still runs (an
			// agent restarted after its lease expired): its files are newer than any copy.
			return "kept the running container: this host committed the latest snapshot", nil
		}
		if err := a.own.Stop(ctx, c); err != nil {
			return "", err
		}
	}
	var detail string
	if latest != nil {
		if err := a.own.Restore(ctx, c, latest.Name); err != nil {
			return "", err
		}
		detail = "restored snapshot " + latest.Name + " of " + latest.Created.UTC().Format(time.RFC3339)
	}
	out, err := a.own.Ensure(ctx, s.spec())
	if err != nil {
		return "", err
	}
	if out.Created {
		detail = fmt.Sprintf("created from %s %s", s.cfg.Backup.Kind, s.cfg.Backup.Source)
	}
	return detail + ", started", nil
}

// publish points the service's name at ip: from last (the address the latest commit
// recorded) with the compare-and-set, or by creating it when the name has no address.
func (s *service) publish(ctx context.Context, last, ip netip.Addr) (string, error) {
	d := s.a.names
	name := s.cfg.DNSName
	cur, err := d.Lookup(ctx, name)
	if err != nil {
		return "", err
	}
	switch {
	case len(cur) == 1 && cur[0] == ip:
		return name + " already points here", nil
	case len(cur) == 0:
		err = d.Create(ctx, name, ip)
	case len(cur) == 1 && cur[0] == last:
		err = d.Switch(ctx, name, last, ip)
	default:
		return "", fmt.Errorf("%s points at %v, not at the last owner's address %v: not moving it (another host may serve it)", name, cur, last)
	}
	if err != nil {
		return "", err
	}
	now, err := d.Lookup(ctx, name)
	if err != nil {
		return "", fmt.Errorf("confirm: %w", err)
	}
	if len(now) != 1 || now[0] != ip {
		return "", fmt.Errorf("confirm: %s points at %v after the update, want %s", name, now, ip)
	}
	return fmt.Sprintf("%s %v -> %s", name, cur, ip), nil
}

// errNoHolder: no replica took the snapshot, so it is not committed.
var errNoHolder = errors.New("no replica holds the new snapshot")
