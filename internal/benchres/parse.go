package benchres

import (
	"regexp"
	"strconv"
	"strings"
)

var (
	goBenchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.+)$`)
	latencyLine = regexp.MustCompile(`at ([\d.]+) traps/s .*p50 ([\d.]+) ms, p90 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms`)
	runLine     = regexp.MustCompile(`^=== RUN\s+(\S+)`)
	sentLine    = regexp.MustCompile(`(\d+) traps sent to each of \d+ receivers in [\d.]+ s: ([\d.]+) traps/s`)
	receivedOne = regexp.MustCompile(`(\S+) (\d+) \(loss`)
	takeover    = regexp.MustCompile(`FIGURE pool takeover: client served again ([\d.]+) s`)
	snapshot    = regexp.MustCompile(`FIGURE pool snapshot cost.*?snapshot ([\d.]+) s \+ copy ([\d.]+) s;.*longest client gap ([\d.]+) s`)
)

// ParseGoBench reads the result lines of `go test -bench` output (the -N CPU suffix
// dropped from the name; every "value unit" pair kept).
func ParseGoBench(text string) []GoBench {
	var out []GoBench
	for _, l := range strings.Split(text, "\n") {
		m := goBenchLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		b := GoBench{Name: m[1], N: n, Metrics: map[string]float64{}}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				b.Metrics[f[i+1]] = v
			}
		}
		out = append(out, b)
	}
	return out
}

// ParseTrapd reads scripts/bench-trapd's output (go test -v of TestBenchLatency and
// TestBenchBurst); nil when it holds neither figure.
func ParseTrapd(text string) *Trapd {
	t := &Trapd{}
	var cur string
	var sent int
	var rate float64
	for _, l := range strings.Split(text, "\n") {
		if m := runLine.FindStringSubmatch(l); m != nil {
			cur = m[1]
		}
		if m := latencyLine.FindStringSubmatch(l); m != nil {
			t.Rate = atof(m[1])
			t.LatencyMS = map[string]float64{"p50": atof(m[2]), "p90": atof(m[3]), "p99": atof(m[4]), "max": atof(m[5])}
		}
		if m := sentLine.FindStringSubmatch(l); m != nil {
			sent, _ = strconv.Atoi(m[1])
			rate = atof(m[2])
		}
		if i := strings.Index(l, "received: "); i >= 0 {
			b := Burst{Case: strings.TrimPrefix(cur, "TestBenchBurst/"), Sent: sent, Rate: rate, Received: map[string]int64{}}
			for _, part := range strings.Split(l[i+len("received: "):], ";") {
				if m := receivedOne.FindStringSubmatch(strings.TrimSpace(part)); m != nil {
					b.Received[m[1]], _ = strconv.ParseInt(m[2], 10, 64)
				}
			}
			t.Bursts = append(t.Bursts, b)
		}
	}
	if t.LatencyMS == nil && t.Bursts == nil {
		return nil
	}
	return t
}

// ParsePool reads the FIGURE lines of the pool lab tests; nil when there are none.
func ParsePool(text string) *Pool {
	p := &Pool{}
	for _, l := range strings.Split(text, "\n") {
		if m := takeover.FindStringSubmatch(l); m != nil {
			p.TakeoverSeconds = append(p.TakeoverSeconds, atof(m[1]))
		}
		if m := snapshot.FindStringSubmatch(l); m != nil {
			p.SnapshotSeconds = append(p.SnapshotSeconds, atof(m[1]))
			p.CopySeconds = append(p.CopySeconds, atof(m[2]))
			p.PauseSeconds = append(p.PauseSeconds, atof(m[3]))
		}
	}
	if p.TakeoverSeconds == nil && p.SnapshotSeconds == nil {
		return nil
	}
	return p
}

func atof(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}
