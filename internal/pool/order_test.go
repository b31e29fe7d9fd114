package pool

import (
	"slices"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/dcs"
	"github.com/vcrcovery/vcrcovery/internal/placement"
)

func ring(t *testing.T, names ...string) *placement.Ring {
	t.Helper()
	var hs []placement.Host
	for _, n := range names {
		hs = append(hs, placement.Host{Name: n, Weight: 1})
	}
	r, err := placement.New(hs, placement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCandidates: the takeover order is the ring's, reduced to the holders of the
// latest committed snapshot; without a commit only the placed owner may start.
func TestCandidates(t *testing.T) {
	r := ring(t, "a", "b", "c", "d", "e")
	svc := placement.Service{Name: "svc", Pin: "b", Replicas: 2}
	order := r.Place(placement.Service{Name: "svc", Pin: "b", Replicas: 4})
	full := append([]string{order.Owner}, order.Replicas...)
	if full[0] != "b" {
		t.Fatalf("pinned to b, placed on %s", full[0])
	}
	tests := []struct {
		name   string
		latest *dcs.Snapshot
		want   []string
	}{
		{"no commit: the placed owner only", nil, []string{"b"}},
		{"holders in ring order", &dcs.Snapshot{Owner: "b", Replicas: []string{full[3], full[1]}}, []string{"b", full[1], full[3]}},
		{"a dead committer is no candidate", &dcs.Snapshot{Owner: "z", Replicas: []string{full[2]}}, []string{full[2]}},
		{"nobody live holds it", &dcs.Snapshot{Owner: "z", Replicas: []string{"y"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Candidates(r, svc, tt.latest); !slices.Equal(got, tt.want) {
				t.Errorf("Candidates = %v, want %v", got, tt.want)
			}
		})
	}
	if got := Candidates(ring(t), svc, nil); got != nil {
		t.Errorf("empty ring: %v", got)
	}
}

// TestCandidatesAfterOwnerLoss: the paper's example: when the owner dies, its first
// replica (the successor) is the first candidate on the ring without it.
func TestCandidatesAfterOwnerLoss(t *testing.T) {
	svc := placement.Service{Name: "svc", Pin: "c", Replicas: 2}
	before := ring(t, "a", "b", "c", "d", "e").Place(svc)
	latest := &dcs.Snapshot{Owner: before.Owner, Replicas: before.Replicas}
	got := Candidates(ring(t, "a", "b", "d", "e"), svc, latest)
	if len(got) == 0 || got[0] != before.Replicas[0] {
		t.Fatalf("after %s died: candidates %v, want %s first (its successor)", before.Owner, got, before.Replicas[0])
	}
	if !slices.Equal(got, before.Replicas) && !slices.Equal(got, []string{before.Replicas[1], before.Replicas[0]}) {
		t.Errorf("candidates %v are not the replicas %v", got, before.Replicas)
	}
}

func TestClaimDelay(t *testing.T) {
	for rank, want := range []time.Duration{0, 2 * time.Second, 4 * time.Second} {
		if got := ClaimDelay(rank, 2*time.Second); got != want {
			t.Errorf("rank %d: %v, want %v", rank, got, want)
		}
	}
}
