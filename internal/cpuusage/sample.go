// Package sample turns successive readings of libvirtGuestCpuTime (LIBVIRT-MIB: CPU time
// used by a guest, nanoseconds, Counter64) into CPU utilisation, the way the seed
// design's sender does every 5 s:
//
//	CPU % = ΔCpuTime (ns) / (elapsed (ns) × vCPUs) × 100
//
// with elapsed taken from the sender's own monotonic clock between the two samples.
// It also decides what a delta that cannot be trusted means: a counter that went back
// (the guest restarted), a vCPU count that changed, a guest seen for the first time, a
// gap between samples. No value is ever invented for a missed sample.
package cpuusage

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// Counter is one guest's reading in a sample.
type Counter struct {
	UUID    libvirtmib.UUID
	VCPUs   uint32 // libvirtGuestCpuCount
	CPUTime uint64 // libvirtGuestCpuTime, ns
	// Running: libvirtGuestState is running (only such a guest can be a sentinel).
	Running bool
}

// Base is a guest's previous reading, what its next CPU % is computed from.
type Base struct {
	CPUTime uint64
	VCPUs   uint32
}

// Snapshot is one hypervisor's previous sample.
type Snapshot struct {
	// At is when the sample was taken (when the agent read libvirt, as near as the
	// sender can tell: when its answer came).
	At Reading
	// Asked is when the request that made the agent read libvirt was sent: the
	// agent's table cache runs from then (a slow read makes At later). Zero when
	// unknown; At stands for it then.
	Asked  Reading
	Guests map[libvirtmib.UUID]Base
	// Sentinels are running guests whose CpuTime grew most in the last interval (or,
	// lacking those, the running guests that used most CPU time so far): when none of
	// them has moved, the agent is probably still serving its cached table.
	Sentinels []libvirtmib.UUID
}

// Outcome says what became of one guest in a sample.
type Outcome uint8

// Outcomes. Only OK and Clamped carry a CPU %.
const (
	// OK: CPU % computed.
	OK Outcome = iota
	// Clamped: computed as more than 100 % but within Policy.Slack (the agent read
	// libvirt a little later than the sender's timestamp says); reported as 100.
	Clamped
	// New: first sample of the guest; its CPU % comes with the next one.
	New
	// Reset: CpuTime went back (the guest restarted, or is shut off now: CpuTime 0).
	// No value; the guest's sample restarts from this reading.
	Reset
	// VCPUChange: the vCPU count changed between the samples, so the delta has no
	// single divisor. No value; the sample restarts.
	VCPUChange
	// Absurd: more than 100 % + Policy.Slack, which no guest can use (e.g. a restart
	// that went unseen, or an agent that read libvirt long before it answered). No
	// value; the sample restarts.
	Absurd
	// NoVCPU: the agent reports 0 vCPUs, so there is nothing to divide by. No value.
	NoVCPU
	// Restarted: the hypervisor's whole sample restarted (Kind Restart). No value.
	Restarted
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "clamped", "new", "reset", "vcpu_change", "absurd", "no_vcpu", "restarted"}

func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", o)
}

// HasValue reports whether the outcome carries a CPU %.
func (o Outcome) HasValue() bool { return o == OK || o == Clamped }

// Kind says what became of a hypervisor's sample as a whole.
type Kind uint8

// Kinds of rounds.
const (
	// First: no previous sample; every guest is New.
	First Kind = iota
	// Normal: elapsed is at most 1.5 intervals.
	Normal
	// Late: a gap (elapsed more than 1.5 intervals, at most MaxGap): the values are the
	// average over the whole gap, and the gap is reported; nothing is interpolated.
	Late
	// Restart: a gap longer than MaxGap, a sender reboot, or a clock that went back:
	// no values, every guest's sample restarts.
	Restart
	// TooSoon: less than half an interval since the previous sample (two cron runs
	// overlapped): nothing is computed and the previous sample is kept.
	TooSoon
)

func (k Kind) String() string {
	return [...]string{"first", "normal", "late", "restart", "too_soon"}[k]
}

// GuestResult is one guest's outcome.
type GuestResult struct {
	UUID    libvirtmib.UUID
	Outcome Outcome
	// CPU is the utilisation in percent of the guest's vCPUs, 0-100, when
	// Outcome.HasValue().
	CPU float64
}

// Round is the result of comparing a sample with the previous one.
type Round struct {
	Kind    Kind
	Elapsed time.Duration
	// Guests has one result per counter given to Compare, in the same order (none
	// when Kind is TooSoon).
	Guests []GuestResult
	// Counts is the number of guests per outcome.
	Counts [numOutcomes]int
	// Next is what the next sample compares with.
	Next Snapshot
}

// Policy holds the thresholds of Compare.
type Policy struct {
	// Interval is the expected time between samples (5 s by default in daemon mode).
	Interval time.Duration
	// MaxGap is the longest elapsed time a value is still computed over (default 4
	// intervals); beyond it the sample restarts.
	MaxGap time.Duration
	// Slack is how far above 100 % a value is clamped to 100 rather than dropped as
	// absurd, in percentage points (default 10).
	Slack float64
	// Sentinels is how many busy guests a snapshot names for the freshness check
	// (default 3).
	Sentinels int
}

// MaxGapOrDefault is MaxGap, or its default of 4 intervals.
func (p Policy) MaxGapOrDefault() time.Duration { return p.maxGap() }

func (p Policy) maxGap() time.Duration {
	if p.MaxGap > 0 {
		return p.MaxGap
	}
	return 4 * p.Interval
}

func (p Policy) slack() float64 {
	if p.Slack > 0 {
		return p.Slack
	}
	return 10
}

func (p Policy) sentinels() int {
	if p.Sentinels > 0 {
		return p.Sentinels
	}
	return 3
}

// TooSoon reports whether a sample at `at` would come too soon after prev.
func (p Policy) TooSoon(prev *Snapshot, at Reading) bool {
	if prev == nil {
		return false
	}
	el, ok := at.Since(prev.At)
	return ok && el < p.Interval/2
}

// Compare computes each guest's CPU % between the previous snapshot (nil for none)
// and the counters read at `at`.
func (p Policy) Compare(prev *Snapshot, at Reading, now []Counter) Round {
	var r Round
	if prev == nil {
		r.Kind = First
	} else {
		el, ok := at.Since(prev.At)
		r.Elapsed = el
		switch {
		case !ok:
			r.Kind = Restart
		case el < p.Interval/2:
			r.Kind = TooSoon
			r.Next = *prev
			return r
		case el > p.maxGap():
			r.Kind = Restart
		case el > p.Interval*3/2:
			r.Kind = Late
		default:
			r.Kind = Normal
		}
	}

	r.Guests = make([]GuestResult, len(now))
	r.Next = Snapshot{At: at, Guests: make(map[libvirtmib.UUID]Base, len(now))}
	type busy struct {
		u     libvirtmib.UUID
		delta uint64
	}
	var busiest, fallback []busy
	for i, c := range now {
		g := GuestResult{UUID: c.UUID}
		r.Next.Guests[c.UUID] = Base{CPUTime: c.CPUTime, VCPUs: c.VCPUs}
		var b Base
		var seen bool
		if prev != nil {
			b, seen = prev.Guests[c.UUID]
		}
		switch {
		case r.Kind == First || !seen:
			g.Outcome = New
		case r.Kind == Restart:
			g.Outcome = Restarted
		case c.CPUTime < b.CPUTime:
			g.Outcome = Reset
		case c.VCPUs != b.VCPUs:
			g.Outcome = VCPUChange
		case c.VCPUs == 0:
			g.Outcome = NoVCPU
		default:
			delta := c.CPUTime - b.CPUTime
			pct := float64(delta) / (float64(r.Elapsed) * float64(c.VCPUs)) * 100
			switch {
			case pct > 100+p.slack():
				g.Outcome = Absurd
			case pct > 100:
				g.Outcome, g.CPU = Clamped, 100
			default:
				g.Outcome, g.CPU = OK, pct
			}
			if g.Outcome.HasValue() && delta > 0 && c.Running {
				busiest = append(busiest, busy{c.UUID, delta})
			}
		}
		if c.Running && c.CPUTime > 0 && (!g.Outcome.HasValue() || c.CPUTime == b.CPUTime) {
			fallback = append(fallback, busy{c.UUID, c.CPUTime})
		}
		r.Counts[g.Outcome]++
		r.Guests[i] = g
	}
	byDelta := func(a, b busy) int {
		if c := cmp.Compare(b.delta, a.delta); c != 0 {
			return c
		}
		return slices.Compare(a.u[:], b.u[:])
	}
	slices.SortFunc(busiest, byDelta)
	if len(busiest) < p.sentinels() {
		slices.SortFunc(fallback, byDelta)
		busiest = append(busiest, fallback...)
	}
	for _, b := range busiest[:min(len(busiest), p.sentinels())] {
		r.Next.Sentinels = append(r.Next.Sentinels, b.u)
	}
	return r
}
