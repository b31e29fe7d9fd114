package cpuusage

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

func guest(n byte) libvirtmib.UUID { return libvirtmib.UUID{15: n} }

var (
	a, b, c = guest(1), guest(2), guest(3)
	t0      = Reading{Wall: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC), Mono: 1000 * time.Second, Boot: "boot-1"}
)

// step is one sample: the clock moves by advance (or is set to at), then the counters
// are read.
type step struct {
	advance  time.Duration
	boot     string // another boot id from this step on
	counters []Counter
	kind     Kind
	want     []GuestResult
}

func TestCompare(t *testing.T) {
	s := time.Second
	tests := []struct {
		name  string
		steps []step
	}{
		{"first sample, then steady load on 1 and 4 vCPUs", []step{
			{0, "", []Counter{{a, 1, 10e9, true}, {b, 4, 0, true}}, First, []GuestResult{{a, New, 0}, {b, New, 0}}},
			{5 * s, "", []Counter{{a, 1, 12.5e9, true}, {b, 4, 10e9, true}}, Normal, []GuestResult{{a, OK, 50}, {b, OK, 50}}},
			{5 * s, "", []Counter{{a, 1, 12.5e9, true}, {b, 4, 30e9, true}}, Normal, []GuestResult{{a, OK, 0}, {b, OK, 100}}},
		}},
		{"counter reset: restarted guest gives no value, then restarts from the new reading", []step{
			{0, "", []Counter{{a, 1, 500e9, true}}, First, []GuestResult{{a, New, 0}}},
			{5 * s, "", []Counter{{a, 1, 1e9, true}}, Normal, []GuestResult{{a, Reset, 0}}},
			{5 * s, "", []Counter{{a, 1, 2e9, true}}, Normal, []GuestResult{{a, OK, 20}}},
		}},
		{"shut off (CpuTime 0) is a reset, then 0 %, then started again", []step{
			{0, "", []Counter{{a, 1, 500e9, true}}, First, []GuestResult{{a, New, 0}}},
			{5 * s, "", []Counter{{a, 1, 0, true}}, Normal, []GuestResult{{a, Reset, 0}}},
			{5 * s, "", []Counter{{a, 1, 0, true}}, Normal, []GuestResult{{a, OK, 0}}},
			{5 * s, "", []Counter{{a, 1, 1.25e9, true}}, Normal, []GuestResult{{a, OK, 25}}},
		}},
		{"vCPU count change restarts the guest's sample", []step{
			{0, "", []Counter{{a, 2, 10e9, true}}, First, []GuestResult{{a, New, 0}}},
			{5 * s, "", []Counter{{a, 4, 20e9, true}}, Normal, []GuestResult{{a, VCPUChange, 0}}},
			{5 * s, "", []Counter{{a, 4, 30e9, true}}, Normal, []GuestResult{{a, OK, 50}}},
		}},
		{"guest disappears and appears again", []step{
			{0, "", []Counter{{a, 1, 1e9, true}, {b, 1, 1e9, true}}, First, []GuestResult{{a, New, 0}, {b, New, 0}}},
			{5 * s, "", []Counter{{a, 1, 2e9, true}}, Normal, []GuestResult{{a, OK, 20}}},
			{5 * s, "", []Counter{{a, 1, 3e9, true}, {b, 1, 9e9, true}}, Normal, []GuestResult{{a, OK, 20}, {b, New, 0}}},
			{5 * s, "", []Counter{{a, 1, 4e9, true}, {b, 1, 10e9, true}, {c, 2, 0, true}}, Normal, []GuestResult{{a, OK, 20}, {b, OK, 20}, {c, New, 0}}},
		}},
		{"gap within MaxGap: the average over the gap, reported late", []step{
			{0, "", []Counter{{a, 1, 0, true}}, First, []GuestResult{{a, New, 0}}},
			{15 * s, "", []Counter{{a, 1, 3e9, true}}, Late, []GuestResult{{a, OK, 20}}},
			{5 * s, "", []Counter{{a, 1, 4e9, true}}, Normal, []GuestResult{{a, OK, 20}}},
		}},
		{"gap beyond MaxGap: no value, the sample restarts", []step{
			{0, "", []Counter{{a, 1, 0, true}}, First, []GuestResult{{a, New, 0}}},
			{21 * s, "", []Counter{{a, 1, 3e9, true}}, Restart, []GuestResult{{a, Restarted, 0}}},
			{5 * s, "", []Counter{{a, 1, 4e9, true}}, Normal, []GuestResult{{a, OK, 20}}},
		}},
		{"sender rebooted: readings of two boots do not compare", []step{
			{0, "", []Counter{{a, 1, 0, true}}, First, []GuestResult{{a, New, 0}}},
			{5 * s, "boot-2", []Counter{{a, 1, 1e9, true}}, Restart, []GuestResult{{a, Restarted, 0}}},
			{5 * s, "", []Counter{{a, 1, 2e9, true}}, Normal, []GuestResult{{a, OK, 20}}},
		}},
		{"too soon: nothing computed, the previous sample stays the base", []step{
			{0, "", []Counter{{a, 1, 0, true}}, First, []GuestResult{{a, New, 0}}},
			{2 * s, "", []Counter{{a, 1, 1e9, true}}, TooSoon, nil},
			{3 * s, "", []Counter{{a, 1, 2.5e9, true}}, Normal, []GuestResult{{a, OK, 50}}},
		}},
		{"above 100 %: clamped within the slack, dropped beyond", []step{
			{0, "", []Counter{{a, 1, 0, true}, {b, 2, 0, true}}, First, []GuestResult{{a, New, 0}, {b, New, 0}}},
			{5 * s, "", []Counter{{a, 1, 5.2e9, true}, {b, 2, 12e9, true}}, Normal, []GuestResult{{a, Clamped, 100}, {b, Absurd, 0}}},
			{5 * s, "", []Counter{{a, 1, 10.2e9, true}, {b, 2, 13e9, true}}, Normal, []GuestResult{{a, OK, 100}, {b, OK, 10}}},
		}},
		{"0 vCPUs: nothing to divide by", []step{
			{0, "", []Counter{{a, 0, 0, true}}, First, []GuestResult{{a, New, 0}}},
			{5 * s, "", []Counter{{a, 0, 1e9, true}}, Normal, []GuestResult{{a, NoVCPU, 0}}},
		}},
	}
	p := Policy{Interval: 5 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := NewFakeClock(t0)
			var prev *Snapshot
			for i, st := range tt.steps {
				clk.Advance(st.advance)
				if st.boot != "" {
					r := clk.Now()
					r.Boot = st.boot
					clk.Set(r)
				}
				r := p.Compare(prev, clk.Now(), st.counters)
				if r.Kind != st.kind {
					t.Errorf("step %d: kind %v, want %v", i, r.Kind, st.kind)
				}
				if diff := cmp.Diff(st.want, r.Guests, cmpopts.EquateApprox(0, 1e-9), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("step %d: (-want +got)\n%s", i, diff)
				}
				n := 0
				for _, c := range r.Counts {
					n += c
				}
				if n != len(r.Guests) {
					t.Errorf("step %d: counts %v for %d guests", i, r.Counts, len(r.Guests))
				}
				prev = &r.Next
			}
		})
	}
}

func TestCompareNeverOutOfRange(t *testing.T) {
	// Whatever the counters do, a value is within 0-100.
	p := Policy{Interval: 5 * time.Second}
	prev := &Snapshot{At: t0, Guests: map[libvirtmib.UUID]Base{}}
	var now []Counter
	for i := range 200 {
		u := guest(byte(i))
		prev.Guests[u] = Base{CPUTime: uint64(i) * 7e8, VCPUs: uint32(i%4 + 1)}
		now = append(now, Counter{u, uint32(i%4 + 1), uint64(i*i) * 1e7, true})
	}
	at := t0
	at.Mono += 5 * time.Second
	for _, g := range p.Compare(prev, at, now).Guests {
		if g.Outcome.HasValue() && (g.CPU < 0 || g.CPU > 100) {
			t.Fatalf("%v: %v %.3f %%", g.UUID, g.Outcome, g.CPU)
		}
	}
}

func TestSentinels(t *testing.T) {
	p := Policy{Interval: 5 * time.Second, Sentinels: 2}
	d := guest(4)
	// First sample: the running guests that used most CPU so far, never a stopped one.
	r := p.Compare(nil, t0, []Counter{{a, 1, 5e9, true}, {b, 1, 0, true}, {c, 1, 7e9, true}, {d, 1, 9e9, false}})
	if diff := cmp.Diff([]libvirtmib.UUID{c, a}, r.Next.Sentinels); diff != "" {
		t.Fatalf("first sample (-want +got)\n%s", diff)
	}
	at := t0
	at.Mono += 5 * time.Second
	// Then the busiest in the interval, topped up with the largest CPU time.
	r = p.Compare(&r.Next, at, []Counter{{a, 1, 6e9, true}, {b, 1, 0, true}, {c, 1, 7e9, true}, {d, 1, 19e9, false}})
	if diff := cmp.Diff([]libvirtmib.UUID{a, c}, r.Next.Sentinels); diff != "" {
		t.Fatalf("busiest first (-want +got)\n%s", diff)
	}
	at.Mono += 5 * time.Second
	r = p.Compare(&r.Next, at, []Counter{{a, 1, 7e9, true}, {b, 1, 1e9, true}, {c, 1, 9e9, true}})
	if diff := cmp.Diff([]libvirtmib.UUID{c, a}, r.Next.Sentinels); diff != "" {
		t.Fatalf("busiest (-want +got)\n%s", diff)
	}
}

func TestNextTick(t *testing.T) {
	tests := []struct {
		now, want string
		interval  time.Duration
	}{
		{"2026-11-22T03:00:00.000Z", "2026-11-22T03:00:05Z", 5 * time.Second},
		{"2026-11-22T03:00:04.999Z", "2026-11-22T03:00:05Z", 5 * time.Second},
		{"2026-11-22T03:00:05.001Z", "2026-11-22T03:00:10Z", 5 * time.Second},
		{"2026-11-22T03:00:59.5Z", "2026-11-22T03:01:00Z", time.Minute},
		{"2026-11-22T03:00:01Z", "2026-11-22T03:00:01.250Z", 250 * time.Millisecond},
	}
	for _, tt := range tests {
		now, _ := time.Parse(time.RFC3339Nano, tt.now)
		want, _ := time.Parse(time.RFC3339Nano, tt.want)
		if got := NextTick(now, tt.interval); !got.Equal(want) {
			t.Errorf("NextTick(%s, %v) = %s, want %s", tt.now, tt.interval, got.Format(time.RFC3339Nano), tt.want)
		}
	}
}

func TestSystemClock(t *testing.T) {
	c, err := NewSystemClock()
	if err != nil {
		t.Fatal(err)
	}
	r1 := c.Now()
	if err := c.Sleep(context.Background(), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r2 := c.Now()
	el, ok := r2.Since(r1)
	if !ok || el < 20*time.Millisecond || r1.Boot == "" {
		t.Fatalf("readings %+v then %+v: elapsed %v, %v", r1, r2, el, ok)
	}
	// A second process (cron mode) shares the boot id and the clock.
	c2, _ := NewSystemClock()
	if r3 := c2.Now(); r3.Boot != r1.Boot || r3.Mono < r2.Mono {
		t.Fatalf("another clock reads %+v after %+v", r3, r2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err == nil {
		t.Fatal("sleep ignores a cancelled context")
	}
}
