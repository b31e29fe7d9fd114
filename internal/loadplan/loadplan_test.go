package loadplan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const gib = 1 << 30

func TestPlan(t *testing.T) {
	small := Standby{Name: "standby", CPUs: 2, MemoryBytes: 4 * gib, Capacity: 2, MaxCPUPercent: 80, MaxMemoryPercent: 80}
	big := Standby{Name: "big", CPUs: 8, MemoryBytes: 32 * gib, Capacity: 16, MaxCPUPercent: 80, MaxMemoryPercent: 80}
	mid := Standby{Name: "mid", CPUs: 4, MemoryBytes: 8 * gib, Capacity: 4, MaxCPUPercent: 80, MaxMemoryPercent: 80}
	c := func(name, on string, cpu float64, memGiB float64, diskMiB uint64) Container {
		return Container{Name: name, Standby: on, CPUCores: cpu, MemoryBytes: uint64(memGiB * gib), DiskBytes: diskMiB << 20, Movable: true}
	}
	fixed := func(x Container) Container { x.Movable = false; return x }
	tests := []struct {
		name      string
		standbys  []Standby
		cs        []Container
		want      []string // "container from->to"
		wantStuck []string
	}{
		{name: "healthy: nothing moves", standbys: []Standby{small, big},
			cs: []Container{c("a", "standby", 0.2, 0.5, 100), c("b", "standby", 0.2, 0.5, 100)}},
		{name: "over capacity: the cheapest to copy moves", standbys: []Standby{small, big},
			cs:   []Container{c("a", "standby", 0.1, 0.1, 1000), c("b", "standby", 0.1, 0.1, 100), c("c", "standby", 0.1, 0.1, 500)},
			want: []string{"b standby->big"}},
		{name: "cpu: the busy one moves, though bigger: only it brings the standby under", standbys: []Standby{small, big},
			cs:   []Container{c("idle", "standby", 0.05, 0.2, 10), c("busy", "standby", 1.7, 0.2, 200)},
			want: []string{"busy standby->big"}},
		{name: "cpu: either brings it under: the cheaper moves", standbys: []Standby{small, big},
			cs:   []Container{c("idle", "standby", 0.05, 0.2, 10), c("busy", "standby", 1.6, 0.2, 200)},
			want: []string{"idle standby->big"}},
		{name: "no single move suffices: best relief per byte first", standbys: []Standby{{Name: "standby", CPUs: 2, MaxCPUPercent: 50}, big},
			cs:   []Container{c("a", "standby", 0.6, 0, 100), c("b", "standby", 0.6, 0, 600), c("c", "standby", 0.6, 0, 300)},
			want: []string{"a standby->big", "c standby->big"}},
		{name: "memory over: relief per byte picks", standbys: []Standby{small, big},
			cs:   []Container{c("fat", "standby", 0.1, 2.5, 2000), c("slim", "standby", 0.1, 1.0, 100)},
			want: []string{"slim standby->big"}},
		{name: "most headroom wins", standbys: []Standby{small, mid, big},
			cs:   []Container{c("a", "standby", 0.1, 0.1, 10), c("b", "standby", 0.1, 0.1, 20), c("c", "standby", 0.1, 0.1, 30)},
			want: []string{"a standby->big"}},
		{name: "never overload the target", standbys: []Standby{small, {Name: "full", CPUs: 2, MemoryBytes: 4 * gib, Capacity: 1}},
			cs:        []Container{c("a", "standby", 0.1, 0.1, 10), c("b", "standby", 0.1, 0.1, 10), c("c", "standby", 0.1, 0.1, 10), c("x", "full", 0.1, 0.1, 10)},
			wantStuck: []string{"standby"}},
		{name: "cool-down and unmanaged containers stay", standbys: []Standby{small, big},
			cs:        []Container{fixed(c("a", "standby", 0.1, 0.1, 10)), fixed(c("b", "standby", 0.1, 0.1, 10)), fixed(c("c", "standby", 0.1, 0.1, 10))},
			wantStuck: []string{"standby"}},
		{name: "several moves until under", standbys: []Standby{{Name: "standby", Capacity: 1}, big},
			cs:   []Container{c("a", "standby", 0, 0, 30), c("b", "standby", 0, 0, 10), c("c", "standby", 0, 0, 20)},
			want: []string{"b standby->big", "c standby->big"}},
		{name: "two overloaded standbys", standbys: []Standby{small, {Name: "other", Capacity: 1}, big},
			cs:   []Container{c("a", "standby", 0, 0, 10), c("b", "standby", 0, 0, 10), c("c", "standby", 0, 0, 10), c("d", "other", 0, 0, 10), c("e", "other", 0, 0, 10), c("f", "other", 0, 0, 10)},
			want: []string{"d other->big", "e other->big", "a standby->big"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			moves, stuck := Plan(tt.standbys, tt.cs)
			var got []string
			for _, m := range moves {
				got = append(got, m.Container+" "+m.From+"->"+m.To)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("moves (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStuck, stuck, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("stuck (-want +got):\n%s", diff)
			}
		})
	}
}
