package cost

import (
	"bytes"
	"encoding/csv"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vcrcovery/vcrcovery/internal/config"
)

// approx compares money to a thousandth of a cent: the expected figures below are
// computed by hand, the code's by floating point.
var approx = cmpopts.EquateApprox(0, 1e-7)

func protected(name, host string, mode config.StandbyMode) config.Service {
	return config.Service{Name: name, Standby: config.ServiceStandby{Host: host, Mode: mode}}
}

// small is the test inventory: s1 warm and s2 cold on standby VM a, s3 cold on b; the
// pool hosts a (weight 2), b and c (weight 1); one pooled service with 2 replicas.
func small() *config.Inventory {
	return &config.Inventory{
		Standbys: []config.Standby{{Name: "a", Weight: 2}, {Name: "b", Weight: 1}, {Name: "c", Weight: 1}, {Name: "big"}},
		Services: []config.Service{protected("s1", "a", config.ModeWarm), protected("s2", "a", config.ModeCold),
			protected("s3", "b", config.ModeCold)},
		Pooled: []config.PooledService{{Name: "p1", Replicas: 2}},
	}
}

// round prices make the hand computation short: a VM-hour 0.05 (438 USD a year),
// a standby VM-hour 0.2 (1752 a year), a GB 0.1 a month (1.2 a year), 10 GB a service.
var round = Prices{VMPerHour: 0.05, StandbyPerHour: 0.2, StoragePerGBMonth: 0.1, GBPerService: 10, Users: 4}

// TestCompute checks every row's arithmetic against figures worked out by hand (in the
// comments: S services, V standby VMs).
func TestCompute(t *testing.T) {
	tests := []struct {
		name string
		inv  *config.Inventory
		p    Prices
		want []Row
	}{{
		name: "small inventory",
		inv:  small(),
		p:    round,
		want: []Row{
			// S=4 (3 protected + 1 pooled): 4 x 438 = 1752; 40 GB x 1.2 = 48.
			{Scheme: Conventional, Basis: "4 VM x 0.05/h", ComputeUSD: 1752, StorageGB: 40, StorageUSD: 48},
			// V=2 (a, b; big and c hold no standby): 2 x 1752 = 3504.
			{Scheme: Consolidated, Basis: "2 VM x 0.2/h", ComputeUSD: 3504, StorageGB: 40, StorageUSD: 48},
			// 3504 / 4 users = 876.
			{Scheme: ColdShared, Basis: "2 VM x 0.2/h / 4 users", ComputeUSD: 876, StorageGB: 40, StorageUSD: 48},
			// Loads a=2, b=1, c=1. a's worst: b or c fails, 1 x 2/3; b's worst: a
			// fails, 2 x 1/2 = 1; c's the same: 2/3+1+1 = 8/3 VM, x 438 = 1168.
			// Replicas: p1 2, s1-s3 1 each = 5 x 10 GB = 50 GB, x 1.2 = 60.
			{Scheme: Pool, Basis: "2.6667 VM x 0.05/h headroom on 3 hosts", ComputeUSD: 1168, StorageGB: 50, StorageUSD: 60},
			// a has a warm service: 1752; b only cold: 1752/4 = 438; p1 alone in the
			// pool: 8/3 / 4 = 2/3 VM, x 438 = 292. 3 x 10 GB + 2 replicas x 10 GB = 50.
			{Scheme: Configured, Basis: "1 warm VM x 0.2/h + 1 cold VM x 0.2/h / 4 users + pool 0.6667 VM x 0.05/h headroom",
				ComputeUSD: 1752 + 438 + 292, StorageGB: 50, StorageUSD: 60},
		},
	}, {
		name: "lab-like at default prices",
		inv: &config.Inventory{
			Standbys: []config.Standby{{Name: "standby", Weight: 1}, {Name: "big", Weight: 1}, {Name: "spare", Weight: 1}},
			Services: []config.Service{protected("web1", "standby", config.ModeWarm), protected("web2", "standby", config.ModeCold)},
		},
		p: Defaults(),
		want: []Row{
			// 2 x 0.0416 x 8760 = 728.832; 16 GB x 0.08 x 12 = 15.36.
			{Scheme: Conventional, Basis: "2 VM x 0.0416/h", ComputeUSD: 728.832, StorageGB: 16, StorageUSD: 15.36},
			// 0.1664 x 8760 = 1457.664.
			{Scheme: Consolidated, Basis: "1 VM x 0.1664/h", ComputeUSD: 1457.664, StorageGB: 16, StorageUSD: 15.36},
			{Scheme: ColdShared, Basis: "1 VM x 0.1664/h / 1 user", ComputeUSD: 1457.664, StorageGB: 16, StorageUSD: 15.36},
			// 3 equal hosts: 2/(3-1) = 1 VM of headroom, 364.416; 2 replicas x 8 GB.
			{Scheme: Pool, Basis: "1 VM x 0.0416/h headroom on 3 hosts", ComputeUSD: 364.416, StorageGB: 16, StorageUSD: 15.36},
			{Scheme: Configured, Basis: "1 warm VM x 0.1664/h", ComputeUSD: 1457.664, StorageGB: 16, StorageUSD: 15.36},
		},
	}, {
		name: "only cold services, no pool",
		inv: &config.Inventory{
			Standbys: []config.Standby{{Name: "a"}},
			Services: []config.Service{protected("s1", "a", config.ModeCold), protected("s2", "a", config.ModeCold)},
		},
		p: round,
		want: []Row{
			{Scheme: Conventional, Basis: "2 VM x 0.05/h", ComputeUSD: 876, StorageGB: 20, StorageUSD: 24},
			{Scheme: Consolidated, Basis: "1 VM x 0.2/h", ComputeUSD: 1752, StorageGB: 20, StorageUSD: 24},
			{Scheme: ColdShared, Basis: "1 VM x 0.2/h / 4 users", ComputeUSD: 438, StorageGB: 20, StorageUSD: 24},
			{Scheme: Pool, NA: "needs 2 or more pool hosts (standbys with a weight), the inventory has 0"},
			// The idle VM is shared as configured: 1752/4.
			{Scheme: Configured, Basis: "1 cold VM x 0.2/h / 4 users", ComputeUSD: 438, StorageGB: 20, StorageUSD: 24},
		},
	}, {
		name: "pooled services only",
		inv: &config.Inventory{
			Standbys: []config.Standby{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}},
			// 5 replicas asked, but only one other host can hold one.
			Pooled: []config.PooledService{{Name: "p1", Replicas: 5}, {Name: "p2", Replicas: 1}},
		},
		p: round,
		want: []Row{
			{Scheme: Conventional, Basis: "2 VM x 0.05/h", ComputeUSD: 876, StorageGB: 20, StorageUSD: 24},
			// No standbys entry holds a service: the consolidated schemes need one VM.
			{Scheme: Consolidated, Basis: "1 VM x 0.2/h", ComputeUSD: 1752, StorageGB: 20, StorageUSD: 24},
			{Scheme: ColdShared, Basis: "1 VM x 0.2/h / 4 users", ComputeUSD: 438, StorageGB: 20, StorageUSD: 24},
			// 2 equal hosts: each needs the other's whole load, 1 + 1 = 2 VM, 876.
			{Scheme: Pool, Basis: "2 VM x 0.05/h headroom on 2 hosts", ComputeUSD: 876, StorageGB: 20, StorageUSD: 24},
			{Scheme: Configured, Basis: "pool 2 VM x 0.05/h headroom", ComputeUSD: 876, StorageGB: 20, StorageUSD: 24},
		},
	}, {
		name: "empty inventory",
		inv:  &config.Inventory{},
		p:    round,
		want: []Row{
			{Scheme: Conventional, Basis: "0 VM x 0.05/h"},
			{Scheme: Consolidated, Basis: "0 VM x 0.2/h"},
			{Scheme: ColdShared, Basis: "0 VM x 0.2/h / 4 users"},
			{Scheme: Pool, NA: "needs 2 or more pool hosts (standbys with a weight), the inventory has 0"},
			{Scheme: Configured},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compute(tt.inv, tt.p)
			if diff := cmp.Diff(tt.want, got.Rows, approx); diff != "" {
				t.Errorf("rows (-want +got)\n%s", diff)
			}
		})
	}
}

// TestHeadroom: with equal weights the pool needs services/(hosts-1) in all; weights
// shift it towards the small hosts, which must absorb a big one.
func TestHeadroom(t *testing.T) {
	tests := []struct {
		weights  []int
		services float64
		want     float64
	}{
		{[]int{1, 1, 1}, 2, 1},
		{[]int{1, 1, 1, 1}, 6, 2},
		{[]int{1, 1}, 3, 3},
		{[]int{3, 3, 3}, 6, 3},       // only the ratios count
		{[]int{2, 1, 1}, 4, 8.0 / 3}, // worked out in TestCompute
		{[]int{1}, 4, 0},             // nothing can absorb
		{nil, 4, 0},
		{[]int{1, 1, 1}, 0, 0},
	}
	for _, tt := range tests {
		if got := Headroom(tt.weights, tt.services); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("Headroom(%v, %v) = %v, want %v", tt.weights, tt.services, got, tt.want)
		}
	}
}

// TestValidate: each unusable input is named by its flag; the defaults and free
// (zero) prices are usable.
func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Prices)
		want string // "" valid
	}{
		{"defaults", func(*Prices) {}, ""},
		{"free", func(p *Prices) { *p = Prices{Users: 1} }, ""},
		{"negative vm price", func(p *Prices) { p.VMPerHour = -0.01 }, "-cost-vm-price: must be a number of at least 0, got -0.01"},
		{"NaN standby price", func(p *Prices) { p.StandbyPerHour = math.NaN() }, "-cost-standby-price: must be a number of at least 0, got NaN"},
		{"infinite storage price", func(p *Prices) { p.StoragePerGBMonth = math.Inf(1) }, "-cost-storage-price: must be a number of at least 0, got +Inf"},
		{"negative size", func(p *Prices) { p.GBPerService = -1 }, "-cost-gb: must be a number of at least 0, got -1"},
		{"no users", func(p *Prices) { p.Users = 0 }, "-cost-users: must be 1 or more, got 0"},
		{"two at once", func(p *Prices) { p.Users, p.VMPerHour = -1, -1 },
			"-cost-vm-price: must be a number of at least 0, got -1\n-cost-users: must be 1 or more, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Defaults()
			tt.edit(&p)
			got := ""
			if err := p.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWrite: the table names what was priced, has one line per scheme with its share
// of conventional standby, and the prices with their source; the CSV carries the same
// figures at full precision and parses back.
func TestWrite(t *testing.T) {
	rep := Compute(small(), round)
	var table bytes.Buffer
	if err := rep.Write(&table, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"standby cost per year (8760 h), USD: 4 services (1 warm, 2 cold, 1 pooled); standby VMs: a, b; pool hosts: a, b, c (weights 2, 1, 1)\n",
		"conventional-warm  4 VM x 0.05/h ",
		" 1752.00  40 ", " 1800.00 ", "100%\n",
		"cold-shared ", " 924.00 ", "51%\n",
		" 1228.00 ", "68%\n", // the pool
		" 2542.00 ", "141%\n", // as configured
		"prices: primary VM 0.05 USD/h, standby VM 0.2 USD/h, storage 0.1 USD/GB-month, 10 GB per service, 4 user(s) per idle cold-standby VM\n",
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if strings.Contains(table.String(), "AWS") {
		t.Errorf("table names the default prices' source for prices that are not the defaults:\n%s", table.String())
	}
	var out bytes.Buffer
	if err := rep.Write(&out, true); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		CSVHeader,
		{"conventional-warm", "4 VM x 0.05/h", "1752", "40", "48", "1800", "100", ""},
		{"consolidated-warm", "2 VM x 0.2/h", "3504", "40", "48", "3552", "197", ""},
		{"cold-shared", "2 VM x 0.2/h / 4 users", "876", "40", "48", "924", "51", ""},
		{"cooperative-pool", "2.6667 VM x 0.05/h headroom on 3 hosts", "1168", "50", "60", "1228", "68", ""},
		{"as-configured", "1 warm VM x 0.2/h + 1 cold VM x 0.2/h / 4 users + pool 0.6667 VM x 0.05/h headroom", "2482", "50", "60", "2542", "141", ""},
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("CSV (-want +got)\n%s", diff)
	}

	// A scheme that does not apply says why, in both forms, and has no share.
	rep = Compute(&config.Inventory{Services: []config.Service{protected("s1", "a", config.ModeWarm)}}, Defaults())
	table.Reset()
	out.Reset()
	if err := rep.Write(&table, false); err != nil {
		t.Fatal(err)
	}
	if err := rep.Write(&out, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "cooperative-pool   n/a: needs 2 or more pool hosts") || !strings.Contains(table.String(), PriceSource) {
		t.Errorf("table:\n%s", table.String())
	}
	if !strings.Contains(out.String(), "\ncooperative-pool,,,,,,,\"needs 2 or more pool hosts (standbys with a weight), the inventory has 0\"\n") {
		t.Errorf("CSV:\n%s", out.String())
	}
}
