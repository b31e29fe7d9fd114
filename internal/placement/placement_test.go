package placement

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// paperHosts are the paper's hosts A-E. Its ring has one position per host, in the order
// A, B, C, D, E; plain names "A".."E" sit at C, D, A, B, E on the SHA-1 ring, while
// "sA".."sE" sit in the paper's order (TestPaperExample checks it), so the example
// needs no fake hash.
var paperHosts = []Host{{Name: "sA"}, {Name: "sB"}, {Name: "sC"}, {Name: "sD"}, {Name: "sE"}}

// ringOrder lists the hosts of a one-vnode-per-host ring clockwise, starting at from.
func ringOrder(r *Ring, from string) []string {
	var order []string
	for _, v := range r.vnodes {
		order = append(order, r.hosts[v.host].Name)
	}
	i := slices.Index(order, from)
	return append(order[i:], order[:i]...)
}

// TestPaperExample reproduces the seed paper's example: services 1 and 2 on hosts A-E,
// two replicas each, service 1 on B with replicas A and C, service 2 on C with B and D;
// after C fails, service 1 is on B, A, D and service 2 on D, B, E. The paper gives each
// host one ring position and puts each service where its host sits, which is
// Options{VNodesPerWeight: 1} and a pin. It lists each group as owner then the replicas
// in ring order; Placement.Replicas ranks the successor first (the next owner).
func TestPaperExample(t *testing.T) {
	r, err := New(paperHosts, Options{VNodesPerWeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sA", "sB", "sC", "sD", "sE"}, ringOrder(r, "sA")); diff != "" {
		t.Fatalf("ring order (-want +got):\n%s", diff)
	}
	services := []Service{{Name: "1", Pin: "sB", Replicas: 2}, {Name: "2", Pin: "sC", Replicas: 2}}
	for _, tc := range []struct {
		name  string
		ring  *Ring
		paper []string // the paper's groups: owner, then replicas in ring order
		want  []Placement
	}{{
		name:  "all up",
		ring:  r,
		paper: []string{"B, A, C", "C, B, D"},
		want: []Placement{
			{Service: "1", Owner: "sB", Replicas: []string{"sC", "sA"}},
			{Service: "2", Owner: "sC", Replicas: []string{"sD", "sB"}},
		},
	}, {
		name:  "C failed",
		ring:  r.Without("sC"),
		paper: []string{"B, A, D", "D, B, E"},
		want: []Placement{
			{Service: "1", Owner: "sB", Replicas: []string{"sD", "sA"}},
			{Service: "2", Owner: "sD", Replicas: []string{"sE", "sB"}},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.ring.PlaceAll(services)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("placements (-want +got):\n%s", diff)
			}
			order := ringOrder(r, "sA")
			var asPaper []string
			for _, p := range got {
				replicas := slices.Clone(p.Replicas)
				slices.SortFunc(replicas, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
				group := append([]string{p.Owner}, replicas...)
				for i, h := range group {
					group[i] = strings.TrimPrefix(h, "s")
				}
				asPaper = append(asPaper, strings.Join(group, ", "))
			}
			if diff := cmp.Diff(tc.paper, asPaper); diff != "" {
				t.Errorf("groups in the paper's notation (-paper +got):\n%s", diff)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts []Host
		opts  Options
		want  string
	}{
		{"empty name", []Host{{Name: "a"}, {Name: ""}}, Options{}, `placement: hosts[1]: empty name`},
		{"duplicate", []Host{{Name: "a"}, {Name: "b"}, {Name: "a", Weight: 2}}, Options{}, `placement: hosts[2] "a": same name as hosts[0]`},
		{"negative weight", []Host{{Name: "a", Weight: -1}}, Options{}, `placement: hosts[0] "a": weight must be 0-1000, got -1`},
		{"weight too big", []Host{{Name: "a", Weight: 1001}}, Options{}, `placement: hosts[0] "a": weight must be 0-1000, got 1001`},
		{"negative vnodes", []Host{{Name: "a"}}, Options{VNodesPerWeight: -1}, `placement: vnodes per weight: must be 0-1000, got -1`},
		{"too many vnodes", []Host{{Name: "a"}}, Options{VNodesPerWeight: 1001}, `placement: vnodes per weight: must be 0-1000, got 1001`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.hosts, tc.opts)
			if err == nil {
				t.Fatalf("New = %v, want error %q", r, tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlace(t *testing.T) {
	mustNew := func(hosts []Host, opts Options) *Ring {
		t.Helper()
		r, err := New(hosts, opts)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	one := Options{VNodesPerWeight: 1}
	paper := mustNew(paperHosts, one)
	for _, tc := range []struct {
		name string
		ring *Ring
		svc  Service
		want Placement
	}{
		{"no hosts", mustNew(nil, Options{}), Service{Name: "web", Replicas: 2},
			Placement{Service: "web", Missing: 2}},
		{"one host", mustNew([]Host{{Name: "a"}}, Options{}), Service{Name: "web", Replicas: 2},
			Placement{Service: "web", Owner: "a", Missing: 2}},
		{"two hosts, two replicas wanted", mustNew([]Host{{Name: "a"}, {Name: "b"}}, Options{}), Service{Name: "web", Replicas: 2},
			Placement{Service: "web", Owner: "b", Replicas: []string{"a"}, Missing: 1}},
		// "web" hashes after sD, the last host: it wraps round to sE, the first.
		{"no replicas, wrapping past the top", paper, Service{Name: "web"},
			Placement{Service: "web", Owner: "sE"}},
		{"negative replicas count as none", paper, Service{Name: "web", Replicas: -3},
			Placement{Service: "web", Owner: "sE"}},
		{"every host", paper, Service{Name: "web", Pin: "sA", Replicas: 4},
			Placement{Service: "web", Owner: "sA", Replicas: []string{"sB", "sE", "sC", "sD"}}},
		{"more replicas than hosts", paper, Service{Name: "web", Pin: "sA", Replicas: 7},
			Placement{Service: "web", Owner: "sA", Replicas: []string{"sB", "sE", "sC", "sD"}, Missing: 3}},
		// A pin names a position, not a host that must exist: the service lands on the
		// pinned host's successor, as the paper's service 2 does when C fails.
		{"pinned to a host that is gone", paper.Without("sC"), Service{Name: "web", Pin: "sC", Replicas: 1},
			Placement{Service: "web", Owner: "sD", Replicas: []string{"sE"}}},
		{"pinned to a name never in the ring", paper, Service{Name: "web", Pin: "sF", Replicas: 1},
			Placement{Service: "web", Owner: "sC", Replicas: []string{"sD"}}},
		// Many vnodes per host: a pin still lands exactly on its host (the replicas
		// were computed apart, by a few lines of Python over the same rules).
		{"pinned, default vnodes", mustNew(paperHosts, Options{}), Service{Name: "web", Pin: "sD", Replicas: 2},
			Placement{Service: "web", Owner: "sD", Replicas: []string{"sE", "sC"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.ring.Place(tc.svc)); diff != "" {
				t.Errorf("Place(%+v) (-want +got):\n%s", tc.svc, diff)
			}
		})
	}
}

// TestPinLandsOnHost: on the default ring, a service pinned to a host is owned by that
// host, for every host.
func TestPinLandsOnHost(t *testing.T) {
	var hosts []Host
	for i := range 50 {
		hosts = append(hosts, Host{Name: fmt.Sprintf("host-%02d", i), Weight: 1 + i%3})
	}
	r, err := New(hosts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if p := r.Place(Service{Name: "svc", Pin: h.Name, Replicas: 2}); p.Owner != h.Name {
			t.Errorf("pinned to %s: placed %+v", h.Name, p)
		}
	}
}

func TestUses(t *testing.T) {
	p := Placement{Service: "web", Owner: "a", Replicas: []string{"b", "c"}}
	var got []string
	for _, h := range []string{"a", "b", "c", "d", ""} {
		if p.Uses(h) {
			got = append(got, h)
		}
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, got); diff != "" {
		t.Errorf("Uses (-want +got):\n%s", diff)
	}
	if (Placement{Service: "web", Missing: 1}).Uses("") {
		t.Error(`a placement without owner uses host ""`)
	}
}
