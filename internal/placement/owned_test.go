package placement

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPlaceOwned: with the ring's own owner it is Place; with another owner the
// replicas are the ring's group minus that owner, in takeover order, as many as wanted
// while hosts last.
func TestPlaceOwned(t *testing.T) {
	ring, err := New([]Host{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		s := Service{Name: fmt.Sprintf("svc%d", i), Replicas: 2}
		p := ring.Place(s)
		if diff := cmp.Diff(p, ring.PlaceOwned(s, p.Owner)); diff != "" {
			t.Fatalf("%s owned by the ring's owner differs from Place (-want +got)\n%s", s.Name, diff)
		}
		if diff := cmp.Diff(p, ring.PlaceOwned(s, "")); diff != "" {
			t.Fatalf("%s without an owner differs from Place (-want +got)\n%s", s.Name, diff)
		}
		// Sticky: the first replica owns it now (a takeover happened).
		owner := p.Replicas[0]
		o := ring.PlaceOwned(s, owner)
		group := append([]string{p.Owner}, p.Replicas...)
		if o.Owner != owner || slices.Contains(o.Replicas, owner) || len(o.Replicas) != 2 || o.Missing != 0 {
			t.Fatalf("%s owned by %s: %+v", s.Name, owner, o)
		}
		// The ring's owner (which lost the service) keeps a replica, first in line.
		if o.Replicas[0] != group[0] {
			t.Errorf("%s owned by %s: replicas %v, want the ring's owner %s first", s.Name, owner, o.Replicas, group[0])
		}
	}
	small, err := New([]Host{{Name: "a"}, {Name: "b"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// An owner outside the ring (not a live member) and fewer hosts than wanted.
	o := small.PlaceOwned(Service{Name: "x", Replicas: 3}, "gone")
	want := Placement{Service: "x", Owner: "gone", Replicas: o.Replicas, Missing: 1}
	if diff := cmp.Diff(want, o); diff != "" || len(o.Replicas) != 2 {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
