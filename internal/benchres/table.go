package benchres

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/vcrcovery/vcrcovery/internal/config"
)

// The seed papers' figures, beside ours in the table.
const (
	SeedTakeover  = "16 s takeover"
	SeedPause     = "8.45 s checkpoint pause"
	SeedMigration = "5.6 s migration downtime"
	SeedRecovery  = "about half of a VM's cold boot"
)

// Table renders the README's figures table (markdown) from r: one row per figure, our
// value, the peer measured in the same run, the seed papers' figure, and the command.
// Sections missing from r (scripts/bench LIST ran some) have no rows.
func Table(r *Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %d CPUs, %.1f GiB, kernel %s; %s.\n\n", when(r), r.Machine.CPUs,
		float64(r.Machine.MemoryBytes)/(1<<30), r.Machine.Kernel, versions(r.Versions))
	b.WriteString("| what | ours | peer, same run | seed papers | command |\n|---|---|---|---|---|\n")
	row := func(what, ours, peer, seed, cmd string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | `%s` |\n", what, ours, orDash(peer), orDash(seed), cmd)
	}
	for _, rc := range r.Recover {
		seed := ""
		if rc.Mode == "cold" {
			seed = SeedRecovery
		}
		row(fmt.Sprintf("`vcr-recover` %s: run start to DNS switched and confirmed (its report), rounds: %d", rc.Mode, len(rc.SwitchedMS)),
			spread(rc.SwitchedMS, "ms", 1), "", seed, "scripts/bench recover")
		row(fmt.Sprintf("`vcr-recover` %s, whole process vs the shell peer (`scripts/benchmarks/recover-peer.sh`)", rc.Mode),
			spread(rc.OursMS, "ms", 1), fmt.Sprintf("%s (%.1fx)", spread(rc.PeerMS, "ms", 1), ratio(rc.PeerMS, rc.OursMS)), "", "scripts/bench recover")
		row(fmt.Sprintf("`vcr-recover` %s steps (median ms)", rc.Mode), steps(rc.StepsMS), "", "", "scripts/bench recover")
	}
	for _, path := range []string{"fast", "action"} {
		var took, dns []float64
		for _, e := range r.E2E {
			if e.Path == path {
				took, dns = append(took, e.Seconds), append(dns, e.DNSSeconds)
			}
		}
		if len(took) == 0 {
			continue
		}
		what := map[string]string{"fast": "trapd fast path", "action": "trapd + Zabbix trigger + action"}[path]
		seed := SeedRecovery
		if path == "action" {
			seed = "about 16 s; " + SeedRecovery
		}
		row(fmt.Sprintf("`virsh destroy` to a client served by the container, %s (client resolving at the authoritative server every 10 ms), rounds: %d", what, len(took)),
			spread(took, "s", 2), "", seed, "scripts/bench e2e")
		row(fmt.Sprintf("same, seen behind a caching resolver: a cached answer adds up to the record's TTL (the lab's dns.ttl %g s; the default %g s)", r.DNSTTL, float64(config.DefaultDNSTTL)),
			fmt.Sprintf("up to %.2f s (%.2f s + %g s); with the default TTL up to %.2f s", Median(took)+r.DNSTTL, Median(took), r.DNSTTL, Median(took)+config.DefaultDNSTTL), "", "", "scripts/bench e2e")
		row("same, `virsh destroy` to the name switched (first answer with the container's address)", spread(dns, "s", 2), "", "", "scripts/bench e2e")
	}
	sizes := []int{}
	for _, m := range r.Migrate {
		if !slices.Contains(sizes, m.SizeMB) {
			sizes = append(sizes, m.SizeMB)
		}
	}
	for _, size := range sizes {
		by := map[string][]Migrate{}
		for _, m := range r.Migrate {
			if m.SizeMB == size {
				by[m.Method] = append(by[m.Method], m)
			}
		}
		var peers []string
		for _, meth := range []string{"stock", "stateless"} {
			if ms := by[meth]; len(ms) > 0 {
				peers = append(peers, fmt.Sprintf("%s: %s / %s", methodName(meth), migSpread(ms, true), migSpread(ms, false)))
			}
		}
		row(fmt.Sprintf("`vcr-migrate` of a serving container standby -> big, %d MB of data: downtime seen by the client / total", size),
			migSpread(by["vcr-migrate"], true)+" / "+migSpread(by["vcr-migrate"], false), strings.Join(peers, "; "), SeedMigration, "scripts/bench migrate")
	}
	if p := r.Pool; p != nil {
		if len(p.TakeoverSeconds) > 0 {
			row("pool: owner dies -> client served again from the new owner (lease TTL 2 s)", spread(p.TakeoverSeconds, "s", 2), "", SeedTakeover, "scripts/bench pool")
		}
		if len(p.PauseSeconds) > 0 {
			row("pool: per-period pause of the service, 100 MB container (longest client gap)", spread(p.PauseSeconds, "s", 2), "", SeedPause, "scripts/bench pool")
			row("pool: per-period snapshot + copy to one replica, 100 MB written", spread(p.SnapshotSeconds, "s", 2)+" + "+spread(p.CopySeconds, "s", 2), "", "", "scripts/bench pool")
		}
	}
	if t := r.Trapd; t != nil {
		for _, bu := range t.Bursts {
			if len(bu.Received) < 2 {
				continue // the "alone" cases: the same run's peers are the figure
			}
			var peers []string
			for _, name := range sortedKeys(bu.Received) {
				if name != "trapd" {
					peers = append(peers, received(bu, name))
				}
			}
			row(fmt.Sprintf("trapd, %s (sent at %.0f traps/s)", strings.ReplaceAll(bu.Case, "_", " "), bu.Rate), received(bu, "trapd"), strings.Join(peers, "; "), "", "scripts/bench trapd")
		}
		if t.LatencyMS != nil {
			row(fmt.Sprintf("trapd latency at %.0f traps/s, send to the trapper's success reply", t.Rate),
				fmt.Sprintf("p50 %.2f ms, p99 %.2f ms, max %.2f ms", t.LatencyMS["p50"], t.LatencyMS["p99"], t.LatencyMS["max"]), "", "", "scripts/bench trapd")
		}
	}
	// -count N repeats a benchmark's line: one row per name, the spread over its lines.
	names, sender := byName(r.Sender)
	for _, n := range names {
		s := sender[n]
		if _, ok := s[0].Metrics["daemon-s/round"]; ok {
			row(fmt.Sprintf("vcr-sender round, %s (lab agent), vs snmpbulkwalk + awk + zabbix_sender", strings.TrimPrefix(n, "BenchmarkLabRound/")),
				fmt.Sprintf("%s (own CPU %s); `-once` %s", metric(s, "daemon-s/round", 1, "s", 2), metric(s, "daemon-cpu-s/round", 1, "s", 3), metric(s, "cron-s/round", 1, "s", 2)),
				fmt.Sprintf("%s (own CPU %s): %sx", metric(s, "shell-s/round", 1, "s", 2), metric(s, "shell-cpu-s/round", 1, "s", 3), metric(s, "shell/daemon-wall", 1, "", 1)),
				"", "scripts/bench sender")
		}
	}
	for _, n := range names {
		if s := sender[n]; strings.HasPrefix(n, "BenchmarkRound/") {
			row("vcr-sender round alone (fake agent), "+strings.TrimPrefix(n, "BenchmarkRound/"),
				fmt.Sprintf("%s, %s allocated", metric(s, "ns/op", 1e-9, "s", 3), metric(s, "B/op", 1e-6, "MB", 0)), "", "", "scripts/bench sender")
		}
	}
	names, placement := byName(r.Placement)
	for _, n := range names {
		what := map[string]string{
			"BenchmarkPlan":        "placement: ring of 100 hosts built and 10,000 services placed, 2 replicas",
			"BenchmarkNew":         "placement: the ring alone",
			"BenchmarkPlaceAll":    "placement: placing alone",
			"BenchmarkFailurePlan": "placement: what a failure of each of the 100 hosts would do",
		}[n]
		if what != "" {
			p := placement[n]
			row(fmt.Sprintf("%s (runs: %d)", what, len(p)), fmt.Sprintf("%s, %s allocated", metric(p, "ns/op", 1e-6, "ms", 1), metric(p, "B/op", 1e-6, "MB", 1)), "", "", "scripts/bench placement")
		}
	}
	return b.String()
}

func versions(v map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(v) {
		parts = append(parts, k+" "+v[k])
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// spread is "median unit (min-max)", or the one value.
func spread(v []float64, unit string, prec int) string {
	if len(v) == 0 {
		return "-"
	}
	if unit != "" {
		unit = " " + unit
	}
	if len(v) == 1 {
		return fmt.Sprintf("%.*f%s", prec, v[0], unit)
	}
	return fmt.Sprintf("%.*f%s (%.*f-%.*f)", prec, Median(v), unit, prec, slices.Min(v), prec, slices.Max(v))
}

func ratio(peer, ours []float64) float64 {
	if Median(ours) == 0 {
		return 0
	}
	return Median(peer) / Median(ours)
}

func steps(s map[string][]float64) string {
	type kv struct {
		k string
		v float64
	}
	var all []kv
	for k, v := range s {
		all = append(all, kv{k, Median(v)})
	}
	// Biggest first: where the time goes.
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var parts []string
	for _, e := range all {
		parts = append(parts, fmt.Sprintf("%s %.1f", e.k, e.v))
	}
	return strings.Join(parts, ", ")
}

func methodName(m string) string {
	return map[string]string{"stock": "`lxc stop`, `lxc move`, `lxc start` + DNS", "stateless": "`lxc move --stateless` + DNS"}[m]
}

func migSpread(ms []Migrate, downtime bool) string {
	var v []float64
	failed := 0
	for _, m := range ms {
		if m.Failed {
			failed++
			continue
		}
		if downtime {
			v = append(v, m.Downtime)
		} else {
			v = append(v, m.Total)
		}
	}
	s := spread(v, "s", 2)
	if failed > 0 {
		s += fmt.Sprintf(" (%d failed)", failed)
	}
	return s
}

func received(b Burst, name string) string {
	got := b.Received[name]
	loss := 0.0
	if b.Sent > 0 {
		loss = 100 * float64(int64(b.Sent)-got) / float64(b.Sent)
	}
	return fmt.Sprintf("%s %d of %d (%.0f%% loss)", name, got, b.Sent, loss)
}

// Markdown is the README's block: the table, then the plots that exist, linked from
// the README's folder (dir is the results folder relative to it).
func Markdown(r *Results, dir string, pngs []string) string {
	var b strings.Builder
	b.WriteString(Table(r))
	for _, p := range pngs {
		fmt.Fprintf(&b, "\n![%s](%s)\n", strings.TrimSuffix(p, ".png"), filepath.ToSlash(filepath.Join(dir, p)))
	}
	return b.String()
}

// Markers delimit the generated block in the README.
const (
	BeginMarker = "<!-- scripts/bench-table: begin (generated from the results file; do not edit) -->"
	EndMarker   = "<!-- scripts/bench-table: end -->"
)

// Splice replaces what is between the markers in doc by block.
func Splice(doc, block string) (string, error) {
	i, j := strings.Index(doc, BeginMarker), strings.Index(doc, EndMarker)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %q ... %q block", BeginMarker, EndMarker)
	}
	return doc[:i+len(BeginMarker)] + "\n" + block + doc[j:], nil
}

// byName groups benchmark lines by name, names in first-seen order.
func byName(bs []GoBench) ([]string, map[string][]GoBench) {
	var names []string
	m := map[string][]GoBench{}
	for _, b := range bs {
		if m[b.Name] == nil {
			names = append(names, b.Name)
		}
		m[b.Name] = append(m[b.Name], b)
	}
	return names, m
}

// metric is the spread of one metric over a benchmark's lines, scaled.
func metric(bs []GoBench, name string, scale float64, unit string, prec int) string {
	var v []float64
	for _, b := range bs {
		if x, ok := b.Metrics[name]; ok {
			v = append(v, x*scale)
		}
	}
	return spread(v, unit, prec)
}

// when is the span of the pieces' start times (RFC 3339 sorts as text), or the
// assembly's date for a file without them.
func when(r *Results) string {
	var t []string
	for _, v := range r.Started {
		t = append(t, v)
	}
	switch {
	case len(t) == 0:
		return r.Date
	case len(t) == 1:
		return t[0]
	}
	return fmt.Sprintf("%s to %s (the pieces' starts)", slices.Min(t), slices.Max(t))
}
