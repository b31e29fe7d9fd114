package placement

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Property tests: many pseudo-random cases from fixed seeds, so a failure names its
// case and reruns the same.

const cases = 200

// randomCase returns 1-20 hosts of weight 0-3 and 100 services wanting 0-5 replicas
// (often more than the hosts allow), a fifth of them pinned, some to a host that is not
// in the ring.
func randomCase(rng *rand.Rand) ([]Host, []Service) {
	hosts := make([]Host, 1+rng.IntN(20))
	for i := range hosts {
		hosts[i] = Host{Name: fmt.Sprintf("host-%d-%d", i, rng.IntN(1000)), Weight: rng.IntN(4)}
	}
	services := make([]Service, 100)
	for i := range services {
		s := Service{Name: fmt.Sprintf("svc-%d-%d", i, rng.IntN(1000)), Replicas: rng.IntN(6)}
		switch rng.IntN(10) {
		case 0:
			s.Pin = hosts[rng.IntN(len(hosts))].Name
		case 1:
			s.Pin = fmt.Sprintf("gone-%d", rng.IntN(1000))
		}
		services[i] = s
	}
	return hosts, services
}

func newRNG(seed int) *rand.Rand { return rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)) }

func mustRing(t testing.TB, hosts []Host) *Ring {
	t.Helper()
	r, err := New(hosts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSameInputsAnyOrder: hosts and services given in any order place the same.
func TestSameInputsAnyOrder(t *testing.T) {
	for seed := range cases {
		rng := newRNG(seed)
		hosts, services := randomCase(rng)
		want := mustRing(t, hosts).PlaceAll(services)
		rng.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
		rng.Shuffle(len(services), func(i, j int) { services[i], services[j] = services[j], services[i] })
		if diff := cmp.Diff(want, mustRing(t, hosts).PlaceAll(services)); diff != "" {
			t.Fatalf("case %d: shuffled inputs (-first +shuffled):\n%s", seed, diff)
		}
	}
}

// TestGroupsAreDistinctHosts: owner and replicas are distinct hosts of the ring, and a
// shortfall is reported in Missing, never as a silently short list.
func TestGroupsAreDistinctHosts(t *testing.T) {
	for seed := range cases {
		hosts, services := randomCase(newRNG(seed))
		r := mustRing(t, hosts)
		for _, s := range services {
			p := r.Place(s)
			group := append([]string{p.Owner}, p.Replicas...)
			for _, h := range group {
				if !slices.ContainsFunc(hosts, func(x Host) bool { return x.Name == h }) {
					t.Fatalf("case %d: %+v: %q is not a host", seed, p, h)
				}
			}
			if slices.Sort(group); len(slices.Compact(group)) != len(p.Replicas)+1 {
				t.Fatalf("case %d: %+v: a host appears twice", seed, p)
			}
			placeable := min(s.Replicas, len(hosts)-1)
			if len(p.Replicas) != placeable || p.Missing != s.Replicas-placeable {
				t.Fatalf("case %d: %d hosts, %+v: placed %+v, want %d replicas and %d missing",
					seed, len(hosts), s, p, placeable, s.Replicas-placeable)
			}
		}
	}
}

// TestFailureMovesOnlyItsServices: when a host fails, a service that did not use it
// keeps its owner and replicas exactly; one that did keeps every other host of its
// group, and if the failed host owned it, its first replica becomes the owner (the
// host that already holds its snapshot).
func TestFailureMovesOnlyItsServices(t *testing.T) {
	for seed := range cases {
		hosts, services := randomCase(newRNG(seed))
		r := mustRing(t, hosts)
		before := r.PlaceAll(services)
		for _, failed := range hosts {
			after := r.Without(failed.Name).PlaceAll(services)
			for i, b := range before {
				a := after[i]
				if !b.Uses(failed.Name) {
					if diff := cmp.Diff(b, a); diff != "" {
						t.Fatalf("case %d: %s failed, moved a service that did not use it (-before +after):\n%s", seed, failed.Name, diff)
					}
					continue
				}
				var wantOwner string // empty: any host (the failed one owned it alone)
				switch {
				case b.Owner != failed.Name:
					wantOwner = b.Owner
				case len(b.Replicas) > 0:
					wantOwner = b.Replicas[0]
				}
				if a.Uses(failed.Name) || (wantOwner != "" && a.Owner != wantOwner) {
					t.Fatalf("case %d: %s failed: %+v -> %+v, want owner %s", seed, failed.Name, b, a, wantOwner)
				}
				for _, h := range b.Replicas {
					if h != failed.Name && !a.Uses(h) {
						t.Fatalf("case %d: %s failed: %+v -> %+v dropped %s", seed, failed.Name, b, a, h)
					}
				}
			}
		}
	}
}

// TestJoinMovesAboutOneNth: a host joining N hosts takes over about 1/(N+1) of the
// owners (loosely bounded: between 1/(2N) and 2/N of 10,000 services), every moved
// owner moves to the new host, and a service whose new group lacks the new host keeps
// its placement exactly.
func TestJoinMovesAboutOneNth(t *testing.T) {
	services := make([]Service, 10000)
	for i := range services {
		services[i] = Service{Name: fmt.Sprintf("svc-%05d", i), Replicas: 2}
	}
	for _, n := range []int{10, 50, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			hosts := make([]Host, n)
			for i := range hosts {
				hosts[i] = Host{Name: fmt.Sprintf("host-%03d", i)}
			}
			before := mustRing(t, hosts).PlaceAll(services)
			after := mustRing(t, append(hosts, Host{Name: "host-new"})).PlaceAll(services)
			moved := 0
			for i, b := range before {
				a := after[i]
				if !a.Uses("host-new") {
					if diff := cmp.Diff(b, a); diff != "" {
						t.Fatalf("moved a service the new host does not take (-before +after):\n%s", diff)
					}
				}
				if a.Owner != b.Owner {
					moved++
					if a.Owner != "host-new" {
						t.Fatalf("%s moved from %s to %s, not to the new host", b.Service, b.Owner, a.Owner)
					}
				}
			}
			share := float64(moved) / float64(len(services))
			t.Logf("%d hosts + 1: %d of %d owners moved (%.4f; 1/(N+1) = %.4f)", n, moved, len(services), share, 1/float64(n+1))
			if share < 0.5/float64(n) || share > 2/float64(n) {
				t.Errorf("%d hosts + 1: %.4f of the owners moved, want about 1/%d", n, share, n+1)
			}
		})
	}
}

// TestWeights: a host of weight 2 owns about twice as many services as one of weight 1.
func TestWeights(t *testing.T) {
	var hosts []Host
	for i := range 10 {
		hosts = append(hosts, Host{Name: fmt.Sprintf("host-%02d", i), Weight: 1 + i%2})
	}
	r := mustRing(t, hosts)
	owned := map[string]int{}
	const n = 10000
	for i := range n {
		owned[r.Place(Service{Name: fmt.Sprintf("svc-%05d", i)}).Owner]++
	}
	var byWeight [3]int
	for _, h := range hosts {
		byWeight[h.Weight] += owned[h.Name]
		// 15 units of weight in all: a host's fair share is weight/15 of the services.
		fair := float64(n*h.Weight) / 15
		if got := float64(owned[h.Name]); got < 0.7*fair || got > 1.3*fair {
			t.Errorf("%s (weight %d) owns %.0f, want about %.0f", h.Name, h.Weight, got, fair)
		}
	}
	// Five hosts of each weight: the weight-2 hosts together should own about twice
	// what the weight-1 hosts own.
	ratio := float64(byWeight[2]) / float64(byWeight[1])
	t.Logf("owned by weight: %v, per host %v; weight 2 / weight 1 = %.2f", byWeight, owned, ratio)
	if ratio < 1.6 || ratio > 2.4 {
		t.Errorf("weight-2 hosts own %.2f times what weight-1 hosts own, want about 2", ratio)
	}
}
