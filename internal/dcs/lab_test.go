package dcs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vcrcovery/vcrcovery/internal/lab"
)

// labClient connects to the lab's etcd cluster with a pool of its own (a unique key
// prefix), deleted when the test ends.
func labClient(t *testing.T, pool string, keep int) *Client {
	t.Helper()
	eps := strings.Split(lab.Need(t, "ETCD"), ",")
	c, err := Connect(context.Background(), Options{Endpoints: eps, Pool: pool, Keep: keep})
	if err != nil {
		lab.Missing(t, "etcd", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.etcd.Delete(ctx, c.Prefix(), clientv3.WithPrefix())
		c.Close()
	})
	return c
}

// uniquePool names a test's pool.
func uniquePool(t *testing.T) string {
	return fmt.Sprintf("labtest-%s-%d", strings.ToLower(t.Name()), time.Now().UnixNano())
}

// join starts a session for host and closes it when the test ends.
func join(t *testing.T, c *Client, host string) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.Join(ctx, host)
	if err != nil {
		lab.Missing(t, "etcd", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

// percentile of sorted durations.
func percentile(d []time.Duration, p float64) time.Duration {
	return d[int(float64(len(d)-1)*p)]
}

// TestLabClaimExactlyOne: of 8 hosts claiming one service at once exactly one wins,
// and every loser is told the winner, every round. It prints the claim txn latency.
func TestLabClaimExactlyOne(t *testing.T) {
	c := labClient(t, uniquePool(t), 0)
	var hosts []*Session
	for i := range 8 {
		hosts = append(hosts, join(t, c, fmt.Sprintf("h%d", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var took []time.Duration
	for round := range 20 {
		svc := fmt.Sprintf("svc%d", round)
		won := make([]bool, len(hosts))
		seen := make([]Owner, len(hosts))
		errs := make([]error, len(hosts))
		dur := make([]time.Duration, len(hosts))
		var wg sync.WaitGroup
		for i, s := range hosts {
			wg.Go(func() {
				t0 := time.Now()
				won[i], seen[i], errs[i] = s.Claim(ctx, svc)
				dur[i] = time.Since(t0)
			})
		}
		wg.Wait()
		took = append(took, dur...)
		winner := -1
		for i := range hosts {
			if errs[i] != nil {
				t.Fatalf("round %d: claim by %s: %v", round, hosts[i].Host(), errs[i])
			}
			if won[i] {
				if winner >= 0 {
					t.Fatalf("round %d: %s and %s both won", round, hosts[winner].Host(), hosts[i].Host())
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody won", round)
		}
		for i := range hosts {
			if seen[i].Host != hosts[winner].Host() || seen[i].Lease != hosts[winner].Lease() {
				t.Errorf("round %d: %s was told owner %+v, want %s", round, hosts[i].Host(), seen[i], hosts[winner].Host())
			}
		}
		// A second claim by the winner is idempotent; by a loser, refused.
		if ok, _, err := hosts[winner].Claim(ctx, svc); !ok || err != nil {
			t.Errorf("round %d: the owner's second claim = %v, %v", round, ok, err)
		}
		if ok, _, err := hosts[(winner+1)%len(hosts)].Claim(ctx, svc); ok || err != nil {
			t.Errorf("round %d: a loser's second claim = %v, %v", round, ok, err)
		}
	}
	slices.Sort(took)
	t.Logf("claim txn, 8 racing claimers x 20 rounds: p50 %v, p99 %v", percentile(took, 0.5).Round(10*time.Microsecond), percentile(took, 0.99).Round(10*time.Microsecond))
}

// TestLabSessionLost: a host whose keepalives stop (its client closed, its lease not
// revoked, as when the host dies) loses its member key and its ownership after the
// TTL, and another host's member watch sees it leave. It prints the time from the last
// answered keepalive to the watch's event.
func TestLabSessionLost(t *testing.T) {
	pool := uniquePool(t)
	watcher := labClient(t, pool, 0)
	dying := labClient(t, pool, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := watcher.WatchMembers(ctx)
	if ch := <-w; ch.Err != nil || len(ch.Live) != 0 {
		t.Fatalf("first view of an empty pool: %+v", ch)
	}
	s, err := dying.Join(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := s.Claim(ctx, "web1"); !ok || err != nil {
		t.Fatalf("claim web1: %v, %v", ok, err)
	}
	for ch := range w {
		if ch.Err != nil {
			t.Fatal(ch.Err)
		}
		if d := cmp.Diff([]string{"a"}, ch.Joined); d != "" {
			t.Fatalf("joined (-want +got):\n%s", d)
		}
		break
	}
	// Two keepalives at least, so that a renewal kept the lease, not the grant.
	time.Sleep(s.TTL())
	lastKeepAlive := s.ValidUntil().Add(-s.TTL())
	dying.Close()
	<-s.Done()
	if !errors.Is(s.Err(), ErrSessionClosed) {
		t.Errorf("session ended with %v, want ErrSessionClosed", s.Err())
	}
	for ch := range w {
		if ch.Err != nil {
			t.Fatal(ch.Err)
		}
		if d := cmp.Diff([]string{"a"}, ch.Left); d != "" {
			t.Fatalf("left (-want +got):\n%s", d)
		}
		t.Logf("TTL %v: last answered keepalive to the member watch's event: %v", s.TTL(), time.Since(lastKeepAlive).Round(10*time.Millisecond))
		break
	}
	if ctx.Err() != nil {
		t.Fatalf("the watch never saw host a leave: %v", ctx.Err())
	}
	o, err := watcher.Owner(ctx, "web1")
	if err != nil || o.Exists() {
		t.Fatalf("owner of web1 after its owner's lease expired = %+v, %v; want none", o, err)
	}
}

// TestLabLeaseLost: a session whose lease etcd no longer has (revoked behind its back,
// as it would be after expiring while the host was cut off) ends with ErrLeaseLost:
// its Done is how the agent learns that it owns nothing any more.
func TestLabLeaseLost(t *testing.T) {
	c := labClient(t, uniquePool(t), 0)
	s := join(t, c, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.etcd.Revoke(ctx, clientv3.LeaseID(s.Lease())); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("the session did not end after its lease was revoked")
	}
	if !errors.Is(s.Err(), ErrLeaseLost) {
		t.Errorf("session ended with %v, want ErrLeaseLost", s.Err())
	}
}

// TestLabFormerOwnerCannotCommit: once another host claimed a service, neither the
// former owner's session nor a new session of the same host can commit a snapshot;
// the owner's commits keep the Keep latest, the latest first.
func TestLabFormerOwnerCannotCommit(t *testing.T) {
	c := labClient(t, uniquePool(t), 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, b := join(t, c, "a"), join(t, c, "b")
	if ok, _, err := a.Claim(ctx, "web1"); !ok || err != nil {
		t.Fatalf("a claims web1: %v, %v", ok, err)
	}
	created := time.Now().UTC().Truncate(time.Second)
	if _, err := a.Commit(ctx, "web1", Snapshot{Name: "s0", Created: created, Size: 100, Replicas: []string{"b"}}); err != nil {
		t.Fatalf("owner a commits s0: %v", err)
	}
	if _, err := b.Commit(ctx, "web1", Snapshot{Name: "x"}); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("non-owner b commits: %v, want ErrNotOwner", err)
	}
	// a's lease goes (as after a's death), b claims, a comes back with a new session.
	if _, err := c.etcd.Revoke(ctx, clientv3.LeaseID(a.Lease())); err != nil {
		t.Fatal(err)
	}
	if ok, o, err := b.Claim(ctx, "web1"); !ok || err != nil {
		t.Fatalf("b claims web1 after a's lease went: %v, %+v, %v", ok, o, err)
	}
	a2 := join(t, c, "a")
	for _, s := range []*Session{a, a2} {
		if _, err := s.Commit(ctx, "web1", Snapshot{Name: "stale"}); !errors.Is(err, ErrNotOwner) {
			t.Errorf("former owner a (lease %x) commits: %v, want ErrNotOwner", s.Lease(), err)
		}
		if err := s.Release(ctx, "web1"); !errors.Is(err, ErrNotOwner) {
			t.Errorf("former owner a (lease %x) releases: %v, want ErrNotOwner", s.Lease(), err)
		}
	}
	for i := 1; i <= 4; i++ {
		if _, err := b.Commit(ctx, "web1", Snapshot{Name: fmt.Sprintf("s%d", i), Created: created, Replicas: []string{"a", "c"}}); err != nil {
			t.Fatalf("owner b commits s%d: %v", i, err)
		}
	}
	snaps, err := c.Snapshots(ctx, "web1")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range snaps {
		names = append(names, s.Name+"@"+s.Owner)
	}
	if d := cmp.Diff([]string{"s4@b", "s3@b", "s2@b"}, names); d != "" {
		t.Errorf("snapshots kept (-want +got):\n%s", d)
	}
	latest, ok, err := c.Latest(ctx, "web1")
	if err != nil || !ok || latest.Name != "s4" || !latest.Created.Equal(created) || latest.Revision == 0 {
		t.Errorf("latest = %+v, %v, %v; want s4", latest, ok, err)
	}
	if err := b.Release(ctx, "web1"); err != nil {
		t.Errorf("owner b releases: %v", err)
	}
	if o, err := c.Owner(ctx, "web1"); err != nil || o.Exists() {
		t.Errorf("owner after release = %+v, %v", o, err)
	}
}

// TestLabTransferRefusesChanged: a stale owner record (here one written without a
// lease) is replaced by the first transfer that saw it; a transfer from the same,
// now outdated, view is refused and told the new owner.
func TestLabTransferRefusesChanged(t *testing.T) {
	c := labClient(t, uniquePool(t), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, d := join(t, c, "b"), join(t, c, "d")
	if _, err := c.etcd.Put(ctx, c.keys.owner("web1"), "dead"); err != nil {
		t.Fatal(err)
	}
	seen, err := c.Owner(ctx, "web1")
	if err != nil || seen.Host != "dead" {
		t.Fatalf("owner = %+v, %v", seen, err)
	}
	if ok, _, err := d.Claim(ctx, "web1"); ok || err != nil {
		t.Fatalf("claim over an existing record: %v, %v; want refused", ok, err)
	}
	if ok, o, err := b.Transfer(ctx, "web1", seen); !ok || err != nil || o.Host != "b" {
		t.Fatalf("b transfers from %+v: %v, %+v, %v", seen, ok, o, err)
	}
	ok, o, err := d.Transfer(ctx, "web1", seen)
	if ok || err != nil || o.Host != "b" || o.Lease != b.Lease() {
		t.Fatalf("d transfers from the outdated %+v: %v, %+v, %v; want refused with owner b", seen, ok, o, err)
	}
	// From the current record it succeeds (an administrator's forced move).
	if ok, o, err := d.Transfer(ctx, "web1", o); !ok || err != nil || o.Host != "d" {
		t.Fatalf("d transfers from the current record: %v, %+v, %v", ok, o, err)
	}
}

// TestLabNoQuorum: with two of three members stopped, claims and commits fail with
// ErrUnreachable at the ctx deadline, linearizable reads too, serializable reads
// still answer, the member watch says it is stale, and the session does not end: once
// the members are back, the same session still owns and commits (no demotion).
func TestLabNoQuorum(t *testing.T) {
	c := labClient(t, uniquePool(t), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := join(t, c, "a")
	if ok, _, err := a.Claim(ctx, "web1"); !ok || err != nil {
		t.Fatalf("claim web1: %v, %v", ok, err)
	}
	if _, err := a.Commit(ctx, "web1", Snapshot{Name: "s1"}); err != nil {
		t.Fatal(err)
	}
	w := c.WatchMembers(ctx)
	if ch := <-w; ch.Err != nil {
		t.Fatal(ch.Err)
	}
	stopMembers(t, c, 2, 3)

	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 2*time.Second) }
	for _, op := range []struct {
		name string
		do   func(context.Context) error
	}{
		{"claim", func(ctx context.Context) error { _, _, err := a.Claim(ctx, "web2"); return err }},
		{"commit", func(ctx context.Context) error { _, err := a.Commit(ctx, "web1", Snapshot{Name: "s2"}); return err }},
		{"linearizable owner read", func(ctx context.Context) error { _, err := c.Owner(ctx, "web1"); return err }},
	} {
		octx, ocancel := short()
		err := op.do(octx)
		ocancel()
		if !errors.Is(err, ErrUnreachable) {
			t.Errorf("%s without quorum: %v, want ErrUnreachable", op.name, err)
		}
	}
	rctx, rcancel := short()
	o, err := c.Serializable().Owner(rctx, "web1")
	if err != nil || o.Host != "a" {
		t.Errorf("serializable owner read without quorum = %+v, %v; want a", o, err)
	}
	l, ok, err := c.Serializable().Latest(rctx, "web1")
	if err != nil || !ok || l.Name != "s1" {
		t.Errorf("serializable latest without quorum = %+v, %v, %v; want s1", l, ok, err)
	}
	rcancel()
	for ch := range w {
		if ch.Err != nil {
			if !errors.Is(ch.Err, ErrUnreachable) || !slices.Equal(ch.Hosts(), []string{"a"}) {
				t.Errorf("stale member view = %+v, want hosts [a] and ErrUnreachable", ch)
			}
			break
		}
	}
	if !time.Now().After(a.ValidUntil()) {
		t.Errorf("the lease is still confirmed until %v without quorum", a.ValidUntil())
	}
	if a.Err() != nil {
		t.Fatalf("the session ended without quorum: %v (a demotion)", a.Err())
	}

	startMembers(t, c, 2, 3)
	// The lease survived the outage (the new leader renewed it): the same session
	// still owns web1 and commits.
	if _, err := a.Commit(ctx, "web1", Snapshot{Name: "s2"}); err != nil {
		t.Fatalf("commit by the same session after quorum came back: %v", err)
	}
	if a.Err() != nil {
		t.Errorf("session ended after the outage: %v", a.Err())
	}
}

// stopMembers stops etcd members (in parallel: a 3.4 member takes seconds to stop)
// and restarts them when the test ends, if startMembers has not.
func stopMembers(t *testing.T, c *Client, n ...int) {
	t.Helper()
	root := lab.Root(t)
	var wg sync.WaitGroup
	for _, m := range n {
		wg.Go(func() { lab.Run(t, 30*time.Second, root+"/scripts/lab", "etcd-member", "stop", fmt.Sprint(m)) })
	}
	wg.Wait()
	t.Cleanup(func() { startMembers(t, c, n...) })
}

// startMembers starts etcd members and waits until every endpoint answers with a
// leader.
func startMembers(t *testing.T, c *Client, n ...int) {
	t.Helper()
	root := lab.Root(t)
	for _, m := range n {
		lab.Run(t, 30*time.Second, root+"/scripts/lab", "etcd-member", "start", fmt.Sprint(m))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ep := range c.etcd.Endpoints() {
		for {
			sctx, scancel := context.WithTimeout(ctx, time.Second)
			st, err := c.etcd.Status(sctx, ep)
			scancel()
			if err == nil && st.Leader != 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("etcd member %s not healthy after its restart: %v", ep, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
