package main

import (
	"testing"
	"time"
)

// TestDowntime: the longest run of failures, from its first failed poll to the next good
// one; a run still failing at the end counts to the end (the bench once printed 0.000
// for a move whose client was not yet served again when it stopped looking).
func TestDowntime(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name  string
		polls []bool // one every 10 ms from t0
		end   int    // ms
		want  time.Duration
		fails int
	}{
		{"none failed", []bool{true, true, true}, 30, 0, 0},
		{"one run", []bool{true, false, false, true}, 40, 20 * time.Millisecond, 2},
		{"longest of two", []bool{false, true, false, false, false, true}, 60, 30 * time.Millisecond, 4},
		{"still failing at the end", []bool{true, false, false}, 100, 90 * time.Millisecond, 2},
		{"open run shorter than a closed one", []bool{false, false, false, false, true, false}, 55, 40 * time.Millisecond, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d downtime
			for i, ok := range tc.polls {
				d.observe(at(10*i), ok)
			}
			if got := d.longest(at(tc.end)); got != tc.want {
				t.Errorf("longest = %v, want %v", got, tc.want)
			}
			if d.fails != tc.fails {
				t.Errorf("fails = %d, want %d", d.fails, tc.fails)
			}
		})
	}
}
