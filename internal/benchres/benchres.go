// Package benchres is the results file of scripts/bench: what each benchmark measured,
// on which machine and with which versions of the real components, in one JSON document
// that the README's figures table and the plots are made from. The Go benchmarks
// (scripts/benchmarks/*) write their sections themselves; the text of the go-test
// benchmarks (trapd, sender, placement, pool) is parsed here (parse.go).
package benchres

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// Results is results.json.
type Results struct {
	Date string `json:"date"` // RFC 3339, UTC, when the file was assembled
	// Started is when each piece last ran (a later `scripts/bench -o DIR LIST` into the
	// same folder replaces only the pieces it ran).
	Started  map[string]string `json:"started"`
	Machine  Machine           `json:"machine"`
	Versions map[string]string `json:"versions"` // zabbix, lxd, bind, etcd, go, ...
	// DNSTTL is the lab inventory's dns.ttl in seconds: what a caching resolver may add.
	DNSTTL    float64    `json:"dns_ttl_seconds"`
	Recover   []Recover  `json:"recover,omitempty"`
	E2E       []E2ERound `json:"e2e,omitempty"`
	Migrate   []Migrate  `json:"migrate,omitempty"`
	Trapd     *Trapd     `json:"trapd,omitempty"`
	Sender    []GoBench  `json:"sender,omitempty"`
	Placement []GoBench  `json:"placement,omitempty"`
	Pool      *Pool      `json:"pool,omitempty"`
}

// Machine is what the figures depend on most.
type Machine struct {
	CPUs        int    `json:"cpus"`
	MemoryBytes int64  `json:"memory_bytes"`
	Kernel      string `json:"kernel"`
	OS          string `json:"os,omitempty"`
}

// Recover is one standby mode of scripts/benchmarks/recover: vcr-recover and the shell
// peer, alternating, each value one round in milliseconds.
type Recover struct {
	Mode string `json:"mode"` // warm, cold
	// OursMS is vcr-recover's whole process; SwitchedMS its report's seconds (run start
	// to DNS switched and confirmed).
	OursMS     []float64            `json:"ours_ms"`
	SwitchedMS []float64            `json:"switched_ms"`
	PeerMS     []float64            `json:"peer_ms"`
	StepsMS    map[string][]float64 `json:"steps_ms"`
}

// Poll is one attempt of a client that resolves the name at the authoritative server
// and fetches the page, every 10 ms.
type Poll struct {
	T    float64 `json:"t"` // seconds from the destroy (e2e) or the start of the move (migrate)
	OK   bool    `json:"ok"`
	From string  `json:"from,omitempty"` // e2e: primary, container
}

// E2ERound is one round of scripts/benchmarks/e2e: virsh destroy to a client served by
// the container.
type E2ERound struct {
	Path    string  `json:"path"` // action, fast
	Seconds float64 `json:"seconds"`
	// DNSSeconds is when the client first got the container's address.
	DNSSeconds float64 `json:"dns_seconds"`
	// RecoverSeconds and StepsSeconds are what vcr-recover reported to Zabbix for this
	// run (vcr.recover.duration and vcr.recover.step[...]).
	RecoverSeconds float64            `json:"recover_seconds"`
	StepsSeconds   map[string]float64 `json:"steps_seconds"`
	Polls          []Poll             `json:"polls"`
}

// Migrate is one move of scripts/benchmarks/migrate.
type Migrate struct {
	SizeMB   int     `json:"size_mb"`
	Method   string  `json:"method"` // vcr-migrate, stock, stateless
	Downtime float64 `json:"downtime_seconds"`
	Total    float64 `json:"total_seconds"`
	Note     string  `json:"note,omitempty"`
	Failed   bool    `json:"failed,omitempty"`
	Polls    []Poll  `json:"polls"`
}

// Trapd is scripts/bench-trapd's latency and bursts.
type Trapd struct {
	LatencyMS map[string]float64 `json:"latency_ms,omitempty"` // p50, p90, p99, max
	Rate      float64            `json:"latency_rate"`         // traps/s achieved
	Bursts    []Burst            `json:"bursts,omitempty"`
}

// Burst is one burst case: traps sent to each receiver and what each received.
type Burst struct {
	Case     string           `json:"case"`
	Sent     int              `json:"sent"`
	Rate     float64          `json:"rate"`
	Received map[string]int64 `json:"received"`
}

// GoBench is one line of go test -bench output.
type GoBench struct {
	Name    string             `json:"name"`
	N       int                `json:"n"`
	Metrics map[string]float64 `json:"metrics"` // unit -> value, e.g. ns/op
}

// Pool is the FIGURE lines of the pool lab tests.
type Pool struct {
	TakeoverSeconds []float64 `json:"takeover_seconds,omitempty"`
	// Snapshot and copy of the period that carried 100 MB, and the longest client gap.
	SnapshotSeconds []float64 `json:"snapshot_seconds,omitempty"`
	CopySeconds     []float64 `json:"copy_seconds,omitempty"`
	PauseSeconds    []float64 `json:"pause_seconds,omitempty"`
}

// Load reads a results file.
func Load(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// WriteJSON writes v indented (the Go benchmarks' sections and results.json).
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Median of v (the upper one for an even count); 0 for none.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
