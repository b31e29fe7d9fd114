package pool

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/dcs"
	"github.com/vcrcovery/vcrcovery/internal/placement"
)

// The per-tick decisions of the package comment, each checked on the fakes' journal
// of actions (fake_test.go). The lab tests (migrate/pool_agent_lab_test.go) prove the
// same rules against real etcd, LXD and BIND; these prove every branch, fast.

var hosts3 = []string{"h1", "h2", "h3"}

// groupOf is where the ring of hosts places svc (one replica) when self owns it: its
// replica and the one host outside the group.
func groupOf(t *testing.T, self string) (replica, outside string) {
	t.Helper()
	p := ring(t, hosts3...).PlaceOwned(placement.Service{Name: "svc", Replicas: 1}, self)
	if len(p.Replicas) != 1 {
		t.Fatalf("placement %+v: want one replica", p)
	}
	for _, h := range hosts3 {
		if h != self && h != p.Replicas[0] {
			outside = h
		}
	}
	return p.Replicas[0], outside
}

// TestOwnerReplicates: the owner keeps its container running, snapshots it, copies
// the snapshot onto its replica, commits it with the replica that holds it and its
// address, prunes what the commit no longer keeps and deletes stopped copies outside
// the group; it never claims. A second tick in the same period does nothing.
func TestOwnerReplicates(t *testing.T) {
	const self = "h1"
	replica, outside := groupOf(t, self)
	// round is a period as the journal shows it, after what comes before it.
	round := func(refresh bool, before ...string) []string {
		return append(before,
			"h1 snapshot svc",
			fmt.Sprintf("copy svc h1 -> %s (refresh %t)", replica, refresh),
			"commit svc "+rigSnap+" on ["+replica+"] at 127.0.0.1 size 0",
		)
	}
	tests := []struct {
		name  string
		setup func(r *rig)
		want  []string
	}{
		{
			name:  "first period: full copy onto the replica",
			setup: func(r *rig) { r.put(self, "svc", true) },
			want:  round(false),
		},
		{
			name: "replica holds the last copy: refreshed, the older snapshot pruned on both",
			setup: func(r *rig) {
				r.put(self, "svc", true, "vcr-1", "operator-snap")
				r.put(replica, "svc", false, "vcr-1")
			},
			want: append(round(true), "h1 delete snapshot svc/vcr-1", replica+" delete snapshot svc/vcr-1"),
		},
		{
			name:  "owned container stopped: started first",
			setup: func(r *rig) { r.put(self, "svc", false) },
			want:  round(false, "h1 start svc"),
		},
		{
			name: "storage pool set: the start from the backup and the copy both name it",
			setup: func(r *rig) {
				r.a.Inventory.Pooled[0].StoragePool = "cow"
				r.put(self, "svc", false)
			},
			want: []string{
				"h1 start svc on pool cow",
				"h1 snapshot svc",
				fmt.Sprintf("copy svc h1 -> %s (refresh false) on pool cow", replica),
				"commit svc " + rigSnap + " on [" + replica + "] at 127.0.0.1 size 0",
			},
		},
		{
			name: "stopped copy outside the group: deleted",
			setup: func(r *rig) {
				r.put(self, "svc", true)
				r.put(outside, "svc", false)
			},
			want: append(round(false), outside+" delete svc"),
		},
		{
			name: "running copy outside the group: left to its own agent",
			setup: func(r *rig) {
				r.put(self, "svc", true)
				r.put(outside, "svc", true)
			},
			want: round(false),
		},
		{
			name: "two replicas, one copy runs: the commit names only the replica refreshed",
			setup: func(r *rig) {
				r.a.Inventory.Pooled[0].Replicas = 2
				r.put(self, "svc", true)
				r.put(outside, "svc", true)
			},
			want: round(false),
		},
		{
			name: "the replica's copy runs: not refreshed over, the snapshot dropped, nothing committed",
			setup: func(r *rig) {
				r.put(self, "svc", true)
				r.put(replica, "svc", true)
			},
			want: []string{"h1 snapshot svc", "h1 delete snapshot svc/" + rigSnap},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, self, hosts3, "svc")
			tt.setup(r)
			r.store.owner = r.sess.mine()
			r.ready()
			s := r.service("svc")
			s.tick(t.Context())
			if diff := cmp.Diff(tt.want, r.j.get()); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			r.clock.set(r.clock.now().Add(r.a.Inventory.Pool.SnapshotPeriod - time.Millisecond))
			n := len(r.j.get())
			s.tick(t.Context())
			if got := r.j.get()[n:]; len(got) != 0 {
				t.Errorf("a second tick within the period: %q, want no action", got)
			}
		})
	}
}

// TestOtherOwner: while another host owns the service, a copy running here is stale
// and stops; nothing else happens (no claim, no DNS change).
func TestOtherOwner(t *testing.T) {
	tests := []struct {
		name  string
		local *bool // nil: no copy here
		want  []string
	}{
		{"a copy runs here: stopped", new(true), []string{"h1 stop svc"}},
		{"a stopped replica here: left alone", new(false), nil},
		{"no copy here: nothing", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "h1", hosts3, "svc")
			if tt.local != nil {
				r.put("h1", "svc", *tt.local, "vcr-1")
			}
			r.put("h2", "svc", true, "vcr-1")
			r.names.addrs["svc.pool.test."] = []netip.Addr{silent}
			r.store.owner = dcs.Owner{Host: "h2", Lease: 7, CreateRevision: 5, ModRevision: 5}
			r.ready()
			r.service("svc").tick(t.Context())
			if diff := cmp.Diff(tt.want, r.j.get()); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEarlierRunOwns: the owner key names this host with another lease (the agent
// restarted before its old lease expired): the agent takes the key over with a
// Transfer from the record it read and serves on; it never fences (the running copy
// outside the group stays), restores or moves DNS. A refused or unanswered transfer
// leaves everything as it is.
func TestEarlierRunOwns(t *testing.T) {
	const self = "h1"
	replica, outside := groupOf(t, self)
	tests := []struct {
		name          string
		refuse, down  bool
		wantServedToo bool
	}{
		{name: "transfer succeeds: served on", wantServedToo: true},
		{name: "transfer refused (the key changed): nothing", refuse: true},
		{name: "etcd does not answer the transfer: nothing", down: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, self, hosts3, "svc")
			r.put(self, "svc", true, "vcr-1")
			r.put(outside, "svc", true, "vcr-1")
			r.names.addrs["svc.pool.test."] = []netip.Addr{silent}
			r.store.owner = dcs.Owner{Host: self, Lease: rigLease - 1, CreateRevision: 5, ModRevision: 6}
			r.store.latest = &dcs.Snapshot{Name: "vcr-1", Owner: self, Replicas: []string{replica}, Address: answering.String()}
			r.sess.refuse, r.sess.down = tt.refuse, tt.down
			r.ready()
			r.service("svc").tick(t.Context())
			want := []string{fmt.Sprintf("transfer svc from lease %d rev 6", rigLease-1)}
			if tt.wantServedToo {
				want = append(want,
					"h1 snapshot svc",
					"copy svc h1 -> "+replica+" (refresh false)",
					"commit svc "+rigSnap+" on ["+replica+"] at 127.0.0.1 size 0",
					"h1 delete snapshot svc/vcr-1",
					replica+" delete snapshot svc/vcr-1",
				)
			}
			if diff := cmp.Diff(want, r.j.get()); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}

// orphanRig is a service without owner whose latest commit came from h4, now dead
// (not live, its LXD unreachable), with its address in DNS; the three live hosts
// hold the snapshot as stopped copies. It returns the rig of the candidate of rank k.
func orphanRig(t *testing.T, k int, lastAddr netip.Addr) *rig {
	t.Helper()
	live := hosts3
	latest := &dcs.Snapshot{Name: "vcr-1", Owner: "h4", Replicas: live, Address: lastAddr.String()}
	cands := Candidates(ring(t, live...), placement.Service{Name: "svc", Replicas: 1}, latest)
	if len(cands) != len(live) {
		t.Fatalf("candidates %v: want every live host", cands)
	}
	r := newRig(t, cands[k], append(slices.Clone(live), "h4"), "svc")
	delete(r.servers, "h4")
	r.store.live = live
	r.store.latest = latest
	for _, h := range live {
		r.put(h, "svc", false, "vcr-1")
	}
	r.names.addrs["svc.pool.test."] = []netip.Addr{lastAddr}
	r.ready()
	return r
}

// TestCandidateWaitsItsTurn: candidate k claims k TTLs after it first saw no owner, not a tick
// earlier; the claim is followed by the takeover: restore the committed snapshot,
// start, probe, and move DNS from the last commit's address.
func TestCandidateWaitsItsTurn(t *testing.T) {
	for k := range 3 {
		t.Run(fmt.Sprintf("rank %d", k), func(t *testing.T) {
			r := orphanRig(t, k, silent)
			s := r.service("svc")
			t0, delay := r.clock.now(), ClaimDelay(k, rigTTL)
			var before []time.Duration // the first tick, at t0, starts the count
			if k > 0 {
				before = []time.Duration{0, delay / 2, delay - time.Millisecond}
			}
			for _, at := range before {
				r.clock.set(t0.Add(at))
				s.tick(t.Context())
				if got := r.j.get(); len(got) != 0 {
					t.Fatalf("at +%v, before %d TTLs: %q, want no action", at, k, got)
				}
			}
			r.clock.set(t0.Add(delay))
			s.tick(t.Context())
			self := r.a.Host
			want := []string{
				"claim svc",
				self + " restore svc/vcr-1",
				self + " start svc",
				"dns switch svc.pool.test. 127.0.0.2 -> 127.0.0.1",
			}
			if diff := cmp.Diff(want, r.j.get()); diff != "" {
				t.Errorf("actions at +%d TTLs (-want +got):\n%s", k, diff)
			}
		})
	}
}

// TestTakeover: what follows a claim of the first candidate, when something is in
// the way. A takeover that cannot finish stops what it started and releases the key,
// and is not retried for a TTL; the DNS name never moves from an address other than
// the last commit's.
func TestTakeover(t *testing.T) {
	tests := []struct {
		name  string
		last  netip.Addr
		setup func(r *rig)
		want  func(self, other string) []string
		dns   netip.Addr // where the name points afterwards
	}{
		{
			name: "the last owner's address still answers: released, DNS unchanged",
			last: answering,
			want: func(self, _ string) []string { return []string{"claim svc", "release svc"} },
			dns:  answering,
		},
		{
			name:  "a copy runs on another reachable host: stopped before the restore",
			last:  silent,
			setup: func(r *rig) { r.put(otherLive(r), "svc", true, "vcr-1") },
			want: func(self, other string) []string {
				return []string{
					"claim svc",
					other + " stop svc",
					self + " restore svc/vcr-1",
					self + " start svc",
					"dns switch svc.pool.test. 127.0.0.2 -> 127.0.0.1",
				}
			},
			dns: answering,
		},
		{
			name:  "DNS points at neither the last owner nor here: refused, stopped, released",
			last:  silent,
			setup: func(r *rig) { r.names.addrs["svc.pool.test."] = []netip.Addr{netip.MustParseAddr("192.0.2.9")} },
			want: func(self, _ string) []string {
				return []string{"claim svc", self + " restore svc/vcr-1", self + " start svc", self + " stop svc", "release svc"}
			},
			dns: netip.MustParseAddr("192.0.2.9"),
		},
		{
			name:  "another candidate claimed first: nothing else",
			last:  silent,
			setup: func(r *rig) { r.sess.lose = true },
			want:  func(string, string) []string { return []string{"claim svc"} },
			dns:   silent,
		},
		{
			name:  "etcd does not answer the claim: nothing else",
			last:  silent,
			setup: func(r *rig) { r.sess.down = true },
			want:  func(string, string) []string { return []string{"claim svc"} },
			dns:   silent,
		},
		{
			name:  "this candidate lacks the committed snapshot: no claim",
			last:  silent,
			setup: func(r *rig) { r.put(r.a.Host, "svc", false) },
			want:  func(string, string) []string { return nil },
			dns:   silent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := orphanRig(t, 0, tt.last)
			if tt.setup != nil {
				tt.setup(r)
			}
			s := r.service("svc")
			s.tick(t.Context())
			want := tt.want(r.a.Host, otherLive(r))
			if diff := cmp.Diff(want, r.j.get()); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if got := r.names.addrs["svc.pool.test."]; !slices.Equal(got, []netip.Addr{tt.dns}) {
				t.Errorf("DNS name points at %v, want %v", got, tt.dns)
			}
			if slices.Contains(want, "release svc") {
				// Released: the next ticks within a TTL do not claim again.
				r.clock.set(r.clock.now().Add(rigTTL - time.Millisecond))
				s.tick(t.Context())
				if got := r.j.get()[len(want):]; len(got) != 0 {
					t.Errorf("within a TTL of the failed takeover: %q, want no action", got)
				}
			}
		})
	}
}

// otherLive is the first live host other than the rig's own.
func otherLive(r *rig) string {
	for _, h := range hosts3 {
		if h != r.a.Host {
			return h
		}
	}
	return ""
}

// TestNoActionWithoutEtcd: while etcd does not answer a read the tick needs, or once
// the session has ended, a tick changes nothing: no stop, no claim, no snapshot, no
// DNS update, over several TTLs and whatever runs where.
func TestNoActionWithoutEtcd(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *rig)
	}{
		{"owner unreadable (this host owned it)", func(r *rig) { r.store.owner = r.sess.mine(); r.store.down = true }},
		{"owner unreadable (another host owned it)", func(r *rig) {
			r.store.owner = dcs.Owner{Host: "h2", Lease: 7, CreateRevision: 5, ModRevision: 5}
			r.store.down = true
		}},
		{"owner unreadable, the members and commits readable", func(r *rig) { r.store.downOwner = true }},
		{"no owner, members unreadable", func(r *rig) { r.store.downMembers = true }},
		{"no owner, latest commit unreadable", func(r *rig) { r.store.downLatest = true }},
		{"session ended (lease lost): left to Run", func(r *rig) {
			r.store.owner = dcs.Owner{Host: "h2", Lease: 7, CreateRevision: 5, ModRevision: 5}
			r.sess.end()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := orphanRig(t, 0, silent)
			// A running copy here, another elsewhere: both would be acted on if etcd answered.
			r.put(r.a.Host, "svc", true, "vcr-1")
			r.put(otherLive(r), "svc", true, "vcr-1")
			tt.setup(r)
			s := r.service("svc")
			t0 := r.clock.now()
			for i := range 4 {
				r.clock.set(t0.Add(time.Duration(i) * rigTTL))
				s.tick(t.Context())
			}
			if got := r.j.get(); len(got) != 0 {
				t.Errorf("actions %q, want none", got)
			}
		})
	}
}

// TestLeaseLostStopsAll: when etcd says the session's lease is gone, Run stops every
// pooled container running here (owned or not) before it joins again, and touches no
// other host; on ctx's end it closes the new session.
func TestLeaseLostStopsAll(t *testing.T) {
	r := newRig(t, "h1", hosts3, "c1", "c2", "c3")
	r.put("h1", "c1", true)
	r.put("h1", "c2", true)
	r.put("h1", "c3", false)
	r.put("h2", "c1", true)
	first, second := r.sess, newFakeSession(r.j, r.store, "h1", rigLease+1)
	joins := 0
	r.a.join = func(ctx context.Context, host string) (Session, error) {
		r.j.add("join %s", host)
		if joins++; joins == 1 {
			return first, nil
		}
		return second, nil
	}
	// The services' ticks would snapshot what the first session owns: with etcd down
	// they do nothing, so that every stop in the journal is Run's.
	r.store.down = true
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- r.a.Run(ctx) }()
	waitFor(t, r.j, "join h1", 1)
	first.end()
	waitFor(t, r.j, "join h1", 2)
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{"join h1", "h1 stop c1", "h1 stop c2", "join h1", fmt.Sprintf("close session %d", rigLease+1)}
	if diff := cmp.Diff(want, r.j.get()); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}

// waitFor waits until the journal holds action n times.
func waitFor(t *testing.T, j *journal, action string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c := 0
		for _, a := range j.get() {
			if a == action {
				c++
			}
		}
		if c >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%q not seen %d times: %q", action, n, j.get())
}
