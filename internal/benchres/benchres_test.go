package benchres

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// small is a results file with one of each section, as scripts/bench writes it.
const small = `{
  "date": "2026-12-03T07:00:00Z",
  "started": {"recover": "2026-12-03T06:20:00Z", "trapd": "2026-12-03T06:00:00Z", "pool": "2026-12-03T06:10:00Z"},
  "machine": {"cpus": 2, "memory_bytes": 4294967296, "kernel": "6.1.0-test"},
  "versions": {"zabbix": "6.0.14", "lxd": "5.0.2", "bind": "9.18.28", "etcd": "3.4.23"},
  "dns_ttl_seconds": 2,
  "recover": [{"mode": "warm", "ours_ms": [110, 100, 120], "switched_ms": [70, 60, 80], "peer_ms": [200, 180, 190],
    "steps_ms": {"fence": [50, 51, 49], "dns": [1.5, 1.6, 1.7]}}],
  "e2e": [
    {"path": "fast", "seconds": 0.47, "dns_seconds": 0.40, "recover_seconds": 0.1, "steps_seconds": {"fence": 0.05, "dns": 0.01}, "polls": []},
    {"path": "fast", "seconds": 0.50, "dns_seconds": 0.45, "polls": []},
    {"path": "action", "seconds": 1.75, "dns_seconds": 1.70, "polls": []}],
  "migrate": [
    {"size_mb": 100, "method": "vcr-migrate", "downtime_seconds": 0.6, "total_seconds": 5.3, "polls": []},
    {"size_mb": 100, "method": "stock", "downtime_seconds": 6.4, "total_seconds": 6.5, "polls": []},
    {"size_mb": 100, "method": "stateless", "failed": true, "polls": []}],
  "trapd": {"latency_ms": {"p50": 0.35, "p90": 0.5, "p99": 0.91, "max": 3}, "latency_rate": 1000,
    "bursts": [{"case": "same_run:_20000_as_fast_as_possible", "sent": 20000, "rate": 18965,
      "received": {"trapd": 20000, "snmptrapd": 5000, "gosnmp": 10000}},
      {"case": "alone:_50000_at_50000_per_s_to_trapd", "sent": 50000, "rate": 50000, "received": {"trapd": 50000}}]},
  "sender": [{"name": "BenchmarkLabRound/guests=1000", "n": 1, "metrics": {"daemon-s/round": 0.24, "daemon-cpu-s/round": 0.041,
    "cron-s/round": 0.3, "shell-s/round": 0.44, "shell-cpu-s/round": 0.127, "shell/daemon-wall": 1.83}}],
  "placement": [{"name": "BenchmarkPlan", "n": 60, "metrics": {"ns/op": 17000000, "B/op": 5000000}},
    {"name": "BenchmarkPlan", "n": 60, "metrics": {"ns/op": 16000000, "B/op": 5000000}}],
  "pool": {"takeover_seconds": [2.3, 3.2], "snapshot_seconds": [0.4], "copy_seconds": [0.7], "pause_seconds": [0.6]}
}`

func TestTable(t *testing.T) {
	var r Results
	if err := json.Unmarshal([]byte(small), &r); err != nil {
		t.Fatal(err)
	}
	got := Table(&r)
	t.Log("\n" + got)
	for _, want := range []string{
		"Measured 2026-12-03T06:00:00Z to 2026-12-03T06:20:00Z (the pieces' starts) on 2 CPUs, 4.0 GiB, kernel 6.1.0-test; bind 9.18.28, etcd 3.4.23, lxd 5.0.2, zabbix 6.0.14.",
		"| what | ours | peer, same run | seed papers | command |",
		"| `vcr-recover` warm: run start to DNS switched and confirmed (its report), rounds: 3 | 70.0 ms (60.0-80.0) | - | - | `scripts/bench recover` |",
		"| 110.0 ms (100.0-120.0) | 190.0 ms (180.0-200.0) (1.7x) |",
		"| `vcr-recover` warm steps (median ms) | fence 50.0, dns 1.6 |",
		// The median of two is the upper one.
		"trapd fast path (client resolving at the authoritative server every 10 ms), rounds: 2 | 0.50 s (0.47-0.50) | - | about half of a VM's cold boot |",
		"| same, seen behind a caching resolver: a cached answer adds up to the record's TTL (the lab's dns.ttl 2 s; the default 5 s) | up to 2.50 s (0.50 s + 2 s); with the default TTL up to 5.50 s |",
		"trapd + Zabbix trigger + action (client resolving at the authoritative server every 10 ms), rounds: 1 | 1.75 s | - | about 16 s; about half",
		"| 0.60 s / 5.30 s | `lxc stop`, `lxc move`, `lxc start` + DNS: 6.40 s / 6.50 s; `lxc move --stateless` + DNS: - (1 failed) / - (1 failed) | 5.6 s migration downtime |",
		"| 3.20 s (2.30-3.20) | - | 16 s takeover |",
		"| 0.60 s | - | 8.45 s checkpoint pause |",
		"| 0.40 s + 0.70 s |",
		"| trapd, same run: 20000 as fast as possible (sent at 18965 traps/s) | trapd 20000 of 20000 (0% loss) | gosnmp 10000 of 20000 (50% loss); snmptrapd 5000 of 20000 (75% loss) |",
		"| p50 0.35 ms, p99 0.91 ms, max 3.00 ms |",
		"| vcr-sender round, guests=1000 (lab agent), vs snmpbulkwalk + awk + zabbix_sender | 0.24 s (own CPU 0.041 s); `-once` 0.30 s | 0.44 s (own CPU 0.127 s): 1.8x |",
		// -count 2: one row, the spread over both lines.
		"| placement: ring of 100 hosts built and 10,000 services placed, 2 replicas (runs: 2) | 17.0 ms (16.0-17.0), 5.0 MB (5.0-5.0) allocated |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if strings.Contains(got, "alone") {
		t.Error("a burst with one receiver has no peer and gets no row")
	}
	if n := strings.Count(got, "\n| "); n != 18 {
		t.Errorf("%d rows, want 18", n)
	}
}

func TestTableOfSomeBenchmarks(t *testing.T) {
	got := Table(&Results{Date: "d", Pool: &Pool{TakeoverSeconds: []float64{2}}})
	if n := strings.Count(got, "\n| "); n != 2 { // header and the takeover
		t.Errorf("%d rows, want 2:\n%s", n, got)
	}
}

func TestParse(t *testing.T) {
	trapd := `=== RUN   TestBenchLatency
  latency trap -> trapper success reply, 10000 traps at 1000 traps/s (10000 matched): p50 0.36 ms, p90 0.52 ms, p99 0.95 ms, max 2.10 ms
=== RUN   TestBenchBurst/same_run:_20000_as_fast_as_possible
  20000 traps sent to each of 3 receivers in 1.055 s: 18965 traps/s per receiver (0 send errors)
  received: trapd 20000 (loss 0.0%); snmptrapd 4846 (loss 75.8%); gosnmp 10827 (loss 45.9%)
=== RUN   TestBenchBurst/alone:_50000_at_50000_per_s_to_gosnmp
  50000 traps sent to each of 1 receivers in 1.000 s: 49994 traps/s per receiver (0 send errors)
  received: gosnmp 49274 (loss 1.5%)
`
	want := &Trapd{LatencyMS: map[string]float64{"p50": 0.36, "p90": 0.52, "p99": 0.95, "max": 2.10}, Rate: 1000, Bursts: []Burst{
		{Case: "same_run:_20000_as_fast_as_possible", Sent: 20000, Rate: 18965, Received: map[string]int64{"trapd": 20000, "snmptrapd": 4846, "gosnmp": 10827}},
		{Case: "alone:_50000_at_50000_per_s_to_gosnmp", Sent: 50000, Rate: 49994, Received: map[string]int64{"gosnmp": 49274}},
	}}
	if d := cmp.Diff(want, ParseTrapd(trapd)); d != "" {
		t.Errorf("ParseTrapd (-want +got):\n%s", d)
	}
	bench := "goos: linux\nBenchmarkPlan-2   \t      60\t  17012345 ns/op\t 5000000 B/op\t 1234 allocs/op\n" +
		"BenchmarkLabRound/guests=1000-2  1  441000000 ns/op  0.2400 daemon-s/round  1.83 shell/daemon-wall\nPASS\n"
	wantB := []GoBench{
		{Name: "BenchmarkPlan", N: 60, Metrics: map[string]float64{"ns/op": 17012345, "B/op": 5000000, "allocs/op": 1234}},
		{Name: "BenchmarkLabRound/guests=1000", N: 1, Metrics: map[string]float64{"ns/op": 441000000, "daemon-s/round": 0.24, "shell/daemon-wall": 1.83}},
	}
	if d := cmp.Diff(wantB, ParseGoBench(bench)); d != "" {
		t.Errorf("ParseGoBench (-want +got):\n%s", d)
	}
	pool := `    pool_agent_lab_test.go:317: FIGURE pool takeover: client served again 2.31 s after the owner died (agent SIGKILL + LXD daemon stop; lease TTL 2 s; seed paper: 16 s)
    pool_agent_lab_test.go:502: FIGURE pool snapshot cost, 100 MB written: snapshot 0.45 s + copy 0.71 s; next quiet period: snapshot 0.10 s + copy 0.20 s; longest client gap 0.612 s (seed paper: 8.45 s pause)
`
	wantP := &Pool{TakeoverSeconds: []float64{2.31}, SnapshotSeconds: []float64{0.45}, CopySeconds: []float64{0.71}, PauseSeconds: []float64{0.612}}
	if d := cmp.Diff(wantP, ParsePool(pool)); d != "" {
		t.Errorf("ParsePool (-want +got):\n%s", d)
	}
	if ParsePool("ok\n") != nil || ParseTrapd("ok\n") != nil {
		t.Error("text without figures parses to a section")
	}
}

func TestTimelineAndPlots(t *testing.T) {
	e := E2ERound{Path: "fast", Seconds: 0.5, DNSSeconds: 0.4, StepsSeconds: map[string]float64{"fence": 0.05, "container": 0.01, "dns": 0.002},
		Polls: []Poll{{T: -0.01, OK: true, From: "primary"}, {T: 0.2}, {T: 0.5, OK: true, From: "container"}}}
	got := Timeline(e)
	want := []float64{0.4 - 0.062, 0, 0.05, 0.01, 0, 0.002, 0.1}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); d != "" {
		t.Errorf("Timeline (-want +got):\n%s", d)
	}
	plots := Plots(&Results{E2E: []E2ERound{e}, Migrate: []Migrate{{SizeMB: 100, Method: "vcr-migrate", Polls: e.Polls}}})
	var names []string
	for _, p := range plots {
		names = append(names, p.PNG)
		if _, err := p.Write(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	if d := cmp.Diff([]string{"e2e-timeline.png", "availability-failover.png", "availability-migration.png"}, names); d != "" {
		t.Errorf("plots (-want +got):\n%s", d)
	}
	if d := plots[1].Data["availability-failover-0.dat"]; d != "-0.0100 1\n0.2000 0\n0.5000 1\n" {
		t.Errorf("failover series:\n%s", d)
	}
	if !strings.Contains(plots[0].Data["e2e-timeline.dat"], "fast-1 0.3380 0.0000 0.0500 0.0100 0.0000 0.0020 0.1000") {
		t.Errorf("timeline data:\n%s", plots[0].Data["e2e-timeline.dat"])
	}
}

func TestMarkdownSplice(t *testing.T) {
	md := Markdown(&Results{Date: "d"}, "bench-results/2026-12-03", []string{"e2e-timeline.png"})
	if !strings.HasSuffix(md, "\n![e2e-timeline](bench-results/2026-12-03/e2e-timeline.png)\n") {
		t.Errorf("no plot link:\n%s", md)
	}
	doc := "# x\n" + BeginMarker + "\nold\n" + EndMarker + "\nrest\n"
	got, err := Splice(doc, "new\n")
	if err != nil || got != "# x\n"+BeginMarker+"\nnew\n"+EndMarker+"\nrest\n" {
		t.Errorf("Splice: %v\n%s", err, got)
	}
	if _, err := Splice("no markers", "new"); err == nil {
		t.Error("Splice without markers succeeds")
	}
}
