// Package cost prices the standby side of an inventory per year, the way the seed paper
// compares its schemes: conventional warm standby (a standby VM per primary), one
// consolidated standby VM with the services' containers, cold standby on an idle
// standby VM that N users share, and the cooperative pool, which has no standby VM, only
// headroom on its hosts. It is pure arithmetic on the inventory and a few prices: it
// contacts nothing, so an operator can size a site before any of it exists.
package cost

import (
	"errors"
	"flag"
	"fmt"
	"math"
)

// HoursPerYear and MonthsPerYear turn hourly and monthly list prices into yearly costs
// (365 days; cloud bills round the same way).
const (
	HoursPerYear  = 8760
	MonthsPerYear = 12
)

// Default prices: AWS EC2 on-demand list prices, us-east-1, Linux, as published by AWS
// and known to the authors; they could not be re-checked on 2026-12-03 (no web access),
// so the README says so. They are inputs: give your own with the flags.
const (
	// DefaultVMPrice is a primary VM: t3.medium (2 vCPU, 4 GiB), 0.0416 USD/h.
	DefaultVMPrice = 0.0416
	// DefaultStandbyPrice is the consolidated standby VM: t3.xlarge (4 vCPU, 16 GiB,
	// the memory of four t3.medium primaries), 0.1664 USD/h.
	DefaultStandbyPrice = 0.1664
	// DefaultStoragePrice is block storage: EBS gp3, 0.08 USD per GB-month.
	DefaultStoragePrice = 0.08
	// DefaultGB is one service's data (a standby's disk, a backup, a replica): 8 GB,
	// the root volume EC2 proposes for Amazon Linux; an assumption, not a price.
	DefaultGB = 8
	// DefaultUsers is how many users share an idle cold-standby VM: 1, nobody shares.
	DefaultUsers = 1
	// DefaultReplicas is the replicas a protected service gets when the pool row
	// prices it (the inventory's default pool.replicas).
	DefaultReplicas = 1
)

// PriceSource is the sources line of --help and the README.
const PriceSource = "defaults: AWS EC2 on-demand us-east-1 Linux list prices (t3.medium, t3.xlarge) and EBS gp3, as published by AWS, not re-checked on 2026-12-03"

// Prices are the inputs of a report besides the inventory.
type Prices struct {
	VMPerHour         float64 // a primary VM, and a conventional standby VM of its size
	StandbyPerHour    float64 // the consolidated standby VM
	StoragePerGBMonth float64 // backup, replica and standby disk storage
	GBPerService      float64 // one copy of one service's data
	Users             int     // users sharing one idle cold-standby VM
}

// Defaults are the documented default prices.
func Defaults() Prices {
	return Prices{VMPerHour: DefaultVMPrice, StandbyPerHour: DefaultStandbyPrice,
		StoragePerGBMonth: DefaultStoragePrice, GBPerService: DefaultGB, Users: DefaultUsers}
}

// Register adds the -cost-* flags to fs, writing into p, with Defaults as their
// defaults (p is reset to them, so that each parse starts from the documented values).
func (p *Prices) Register(fs *flag.FlagSet) {
	*p = Defaults()
	fs.Float64Var(&p.VMPerHour, "cost-vm-price", p.VMPerHour, "with -cost: `USD` per hour of a primary VM, AWS t3.medium's by default")
	fs.Float64Var(&p.StandbyPerHour, "cost-standby-price", p.StandbyPerHour, "with -cost: `USD` per hour of the consolidated standby VM, AWS t3.xlarge's by default")
	fs.Float64Var(&p.StoragePerGBMonth, "cost-storage-price", p.StoragePerGBMonth, "with -cost: `USD` per GB-month of storage, AWS EBS gp3's by default")
	fs.Float64Var(&p.GBPerService, "cost-gb", p.GBPerService, "with -cost: `GB` of data per service (a backup, a replica, a standby's disk)")
	fs.IntVar(&p.Users, "cost-users", p.Users, "with -cost: `N` users sharing one idle cold-standby VM")
}

// Validate says which input is unusable; every price and size must be a finite number
// of at least 0, and the users at least 1 (the share is 1/N).
func (p Prices) Validate() error {
	var errs []error
	for _, f := range []struct {
		flag string
		v    float64
	}{{"-cost-vm-price", p.VMPerHour}, {"-cost-standby-price", p.StandbyPerHour},
		{"-cost-storage-price", p.StoragePerGBMonth}, {"-cost-gb", p.GBPerService}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must be a number of at least 0, got %v", f.flag, f.v))
		}
	}
	if p.Users < 1 {
		errs = append(errs, fmt.Errorf("-cost-users: must be 1 or more, got %d", p.Users))
	}
	return errors.Join(errs...)
}
