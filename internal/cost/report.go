package cost

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vcrcovery/vcrcovery/internal/config"
)

// Scheme names a row of the report (the CSV's first column).
type Scheme string

// The schemes, in the report's order. The first four price every service of the
// inventory the same way, so they compare; Configured prices it as written.
const (
	Conventional Scheme = "conventional-warm" // one standby VM per primary
	Consolidated Scheme = "consolidated-warm" // one standby VM per standbys entry, with containers
	ColdShared   Scheme = "cold-shared"       // the same VMs idle, shared by N users, plus backups
	Pool         Scheme = "cooperative-pool"  // headroom on the pool hosts, plus replicas
	Configured   Scheme = "as-configured"     // each service in its inventory mode
)

// Row is the yearly standby cost of one scheme.
type Row struct {
	Scheme Scheme
	// Basis says what is paid for, e.g. "2 VM x 0.0416/h".
	Basis string
	// NA, when not empty, says why the scheme cannot be priced for this inventory;
	// the figures are then zero.
	NA         string
	ComputeUSD float64 // standby VMs or headroom, for a year
	StorageGB  float64
	StorageUSD float64 // StorageGB for a year
}

// TotalUSD is the row's yearly cost.
func (r Row) TotalUSD() float64 { return r.ComputeUSD + r.StorageUSD }

// Report is the yearly standby cost of one inventory under each scheme.
type Report struct {
	Prices Prices
	// Warm and Cold count the protected services by mode; Pooled the pool's services.
	Warm, Cold, Pooled int
	// StandbyVMs are the standbys entries that protected services name (the VMs that
	// the consolidated schemes pay for), in inventory order.
	StandbyVMs []string
	// PoolHosts are the standbys with a weight, and Weights theirs.
	PoolHosts []string
	Weights   []int
	Rows      []Row
}

// Services is how many services the schemes price.
func (r *Report) Services() int { return r.Warm + r.Cold + r.Pooled }

// Compute prices inv's standby side with p (valid: see Prices.Validate).
//
// Every service counts as one primary VM's worth of load and one copy of
// GBPerService of data. A standbys entry that no protected service names (a migration
// target, a pool host only) is not counted as a standby VM: it holds no standby until
// containers are moved there. Pooled services, which have no standby entry, join the
// first standby VM in the consolidated schemes (one more VM when there is none).
func Compute(inv *config.Inventory, p Prices) *Report {
	rep := &Report{Prices: p, Pooled: len(inv.Pooled)}
	// warmOn says, per standby VM, whether one of its services is warm: that VM runs
	// all year; a VM with only cold services is idle and can be shared.
	warmOn := map[string]bool{}
	for _, s := range inv.Services {
		if _, seen := warmOn[s.Standby.Host]; !seen {
			rep.StandbyVMs = append(rep.StandbyVMs, s.Standby.Host)
			warmOn[s.Standby.Host] = false
		}
		if s.Standby.Mode == config.ModeWarm {
			rep.Warm++
			warmOn[s.Standby.Host] = true
		} else {
			rep.Cold++
		}
	}
	for _, h := range inv.PoolHosts() {
		rep.PoolHosts = append(rep.PoolHosts, h.Name)
		rep.Weights = append(rep.Weights, h.Weight)
	}
	n := float64(rep.Services())
	vms := float64(len(rep.StandbyVMs))
	if vms == 0 && n > 0 {
		vms = 1
	}
	// Each of these schemes keeps one copy of every service's data.
	all := p.storage(n)

	rep.Rows = append(rep.Rows,
		Row{Scheme: Conventional, Basis: fmt.Sprintf("%s VM x %s/h", num(n), num(p.VMPerHour)),
			ComputeUSD: n * p.VMPerHour * HoursPerYear, StorageGB: all.gb, StorageUSD: all.usd},
		Row{Scheme: Consolidated, Basis: fmt.Sprintf("%s VM x %s/h", num(vms), num(p.StandbyPerHour)),
			ComputeUSD: vms * p.StandbyPerHour * HoursPerYear, StorageGB: all.gb, StorageUSD: all.usd},
		Row{Scheme: ColdShared, Basis: fmt.Sprintf("%s VM x %s/h / %s", num(vms), num(p.StandbyPerHour), users(p.Users)),
			ComputeUSD: vms * p.StandbyPerHour * HoursPerYear / float64(p.Users), StorageGB: all.gb, StorageUSD: all.usd},
	)

	pool := Row{Scheme: Pool}
	if len(rep.Weights) < 2 {
		pool.NA = fmt.Sprintf("needs 2 or more pool hosts (standbys with a weight), the inventory has %d", len(rep.Weights))
	} else {
		replicas := rep.replicaCopies(inv, true)
		head := Headroom(rep.Weights, n)
		st := p.storage(replicas)
		pool.Basis = fmt.Sprintf("%s VM x %s/h headroom on %d hosts", num(head), num(p.VMPerHour), len(rep.Weights))
		pool.ComputeUSD, pool.StorageGB, pool.StorageUSD = head*p.VMPerHour*HoursPerYear, st.gb, st.usd
	}
	rep.Rows = append(rep.Rows, pool, rep.configured(inv, warmOn, p))
	return rep
}

// configured prices each protected service in its own mode: a standby VM with a warm
// service runs all year, one with only cold services is idle and shared by Users; the
// pooled services cost their pool's headroom and replicas.
func (rep *Report) configured(inv *config.Inventory, warmOn map[string]bool, p Prices) Row {
	row := Row{Scheme: Configured}
	var running, idle int
	for _, h := range rep.StandbyVMs {
		if warmOn[h] {
			running++
		} else {
			idle++
		}
	}
	row.ComputeUSD = (float64(running) + float64(idle)/float64(p.Users)) * p.StandbyPerHour * HoursPerYear
	st := p.storage(float64(len(inv.Services)))
	var basis []string
	if running > 0 {
		basis = append(basis, fmt.Sprintf("%d warm VM x %s/h", running, num(p.StandbyPerHour)))
	}
	if idle > 0 {
		basis = append(basis, fmt.Sprintf("%d cold VM x %s/h / %s", idle, num(p.StandbyPerHour), users(p.Users)))
	}
	if rep.Pooled > 0 && len(rep.Weights) >= 2 {
		head := Headroom(rep.Weights, float64(rep.Pooled))
		row.ComputeUSD += head * p.VMPerHour * HoursPerYear
		ps := p.storage(rep.replicaCopies(inv, false))
		st.gb, st.usd = st.gb+ps.gb, st.usd+ps.usd
		basis = append(basis, fmt.Sprintf("pool %s VM x %s/h headroom", num(head), num(p.VMPerHour)))
	}
	row.Basis = strings.Join(basis, " + ")
	row.StorageGB, row.StorageUSD = st.gb, st.usd
	return row
}

// replicaCopies counts the replica copies the pool keeps: each pooled service's
// replicas and, when protected is set, DefaultReplicas for each protected service;
// never more than the other hosts there are to hold them.
func (rep *Report) replicaCopies(inv *config.Inventory, protected bool) float64 {
	most := len(rep.Weights) - 1
	copies := 0
	for _, s := range inv.Pooled {
		copies += min(s.Replicas, most)
	}
	if protected {
		copies += min(DefaultReplicas, most) * len(inv.Services)
	}
	return float64(copies)
}

// Headroom is the spare capacity, in services (primary VMs' worth), that the pool
// hosts need together so that the failure of any one host is absorbed. Host f carries
// services*w_f/W of the load (W the sum of the weights: the ring's share); when it
// fails, host i takes w_i/(W-w_f) of that load (the ring spreads the failed host's
// services over the others by weight); each host needs room for the worst single
// failure. With equal weights that is 1/(hosts-1) of a host's load per host, so
// services/(hosts-1) in all. The ring's real placement is lumpier with few services
// (vcr-migrate -pool -plan shows it). Fewer than 2 hosts: 0 (nothing can absorb).
func Headroom(weights []int, services float64) float64 {
	if len(weights) < 2 {
		return 0
	}
	total := 0
	for _, w := range weights {
		total += w
	}
	sum := 0.0
	for i, wi := range weights {
		worst := 0.0
		for f, wf := range weights {
			if f == i {
				continue
			}
			load := services * float64(wf) / float64(total)
			worst = max(worst, load*float64(wi)/float64(total-wf))
		}
		sum += worst
	}
	return sum
}

type stored struct{ gb, usd float64 }

// storage is copies of a service's data, and what they cost for a year.
func (p Prices) storage(copies float64) stored {
	gb := copies * p.GBPerService
	return stored{gb: gb, usd: gb * p.StoragePerGBMonth * MonthsPerYear}
}

// num formats a count or a price to at most 4 decimals, without trailing zeros
// (2, 0.5, 0.1664).
func num(v float64) string { return strconv.FormatFloat(math.Round(v*1e4)/1e4, 'f', -1, 64) }

// users says "1 user", "4 users".
func users(n int) string {
	if n == 1 {
		return "1 user"
	}
	return fmt.Sprintf("%d users", n)
}
