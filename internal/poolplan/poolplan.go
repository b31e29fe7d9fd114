// Package poolplan is `vcr-migrate -pool -plan`: a read-only view of the cooperative
// pool (issue 11, item 5) made from the inventory and what etcd holds: per pooled
// service its owner, its replicas in takeover order, its latest committed snapshot and
// that snapshot's age, whether it is under-replicated, and for each pool host what its
// failure would do. It decides nothing: the pool agents (internal/pool) act; this says
// what they would do, with the same placement rules (placement.Ring.PlaceOwned).
package poolplan

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/dcs"
	"github.com/vcrcovery/vcrcovery/internal/placement"
)

// View is what etcd says of the pool at one moment.
type View struct {
	// Live are the pool hosts with a live membership lease.
	Live []string
	// Owners maps a service to its owner's host; a service without one is absent.
	Owners map[string]string
	// Latest maps a service to its latest committed snapshot; absent: none yet.
	Latest map[string]dcs.Snapshot
}

// Reader is the part of a dcs.Client that Read needs.
type Reader interface {
	Members(ctx context.Context) (dcs.Members, error)
	Owner(ctx context.Context, service string) (dcs.Owner, error)
	Latest(ctx context.Context, service string) (dcs.Snapshot, bool, error)
}

// Read reads the View of the inventory's pooled services from etcd.
func Read(ctx context.Context, r Reader, inv *config.Inventory) (View, error) {
	m, err := r.Members(ctx)
	if err != nil {
		return View{}, err
	}
	v := View{Live: m.Hosts(), Owners: map[string]string{}, Latest: map[string]dcs.Snapshot{}}
	for _, s := range inv.Pooled {
		o, err := r.Owner(ctx, s.Name)
		if err != nil {
			return View{}, err
		}
		if o.Exists() {
			v.Owners[s.Name] = o.Host
		}
		snap, ok, err := r.Latest(ctx, s.Name)
		if err != nil {
			return View{}, err
		}
		if ok {
			v.Latest[s.Name] = snap
		}
	}
	return v, nil
}

// Plan is the whole view, ready to print.
type Plan struct {
	Pool string `json:"pool"`
	// Live and Down are the pool hosts with and without a live lease.
	Live     []string  `json:"live"`
	Down     []string  `json:"down"`
	Services []Service `json:"services"`
	// Failures says, for each live host, what its failure would do.
	Failures []Failure `json:"failures"`
}

// Service is one pooled service's state and placement.
type Service struct {
	Name string `json:"name"`
	// Owner is the owner in etcd; empty when nobody owns it now (a takeover is due, or
	// it was never started). Placed is the owner the ring picks among the live hosts.
	Owner  string `json:"owner"`
	Placed string `json:"placed_owner"`
	// Replicas are the hosts that should hold a copy, in takeover order.
	Replicas []string `json:"replicas"`
	Wanted   int      `json:"replicas_wanted"`
	// Holding are the live replicas that hold the latest committed snapshot: what the
	// Zabbix item vcr.pool.replicas counts.
	Holding []string `json:"holding"`
	// UnderReplicated: fewer live replicas hold the latest snapshot than wanted.
	UnderReplicated bool `json:"under_replicated"`
	// Snapshot is the latest committed snapshot; nil when none is.
	Snapshot *Snapshot `json:"snapshot,omitempty"`
}

// Snapshot is a committed snapshot as the plan shows it.
type Snapshot struct {
	Name    string        `json:"name"`
	Created time.Time     `json:"created"`
	Age     time.Duration `json:"age_ns"`
	// Hosts are the replica hosts whose copy was checked before the commit.
	Hosts []string `json:"hosts"`
	Owner string   `json:"owner"`
}

// Failure is what the failure of one host would do.
type Failure struct {
	Host  string `json:"host"`
	Moves []Move `json:"moves"`
}

// Move is one consequence of a host's failure for one service.
type Move struct {
	Service string `json:"service"`
	// Takeover names the replica that would take the service over (the first in
	// takeover order that holds the latest committed snapshot); empty when the failed
	// host only held a replica, or when no replica could take over.
	Takeover string `json:"takeover,omitempty"`
	// NoTakeover says why no replica could take over (none holds a committed snapshot).
	NoTakeover string `json:"no_takeover,omitempty"`
	// NewReplica is the host that would get a new copy to restore the replica count;
	// empty when no host is left.
	NewReplica string `json:"new_replica,omitempty"`
}

// Build makes the Plan of the inventory's pool from a View, at now.
func Build(inv *config.Inventory, v View, now time.Time) (Plan, error) {
	if inv.Pool == nil {
		return Plan{}, fmt.Errorf("the inventory has no pool section")
	}
	var hosts []placement.Host
	p := Plan{Pool: inv.Pool.Name, Live: []string{}, Down: []string{}, Services: []Service{}, Failures: []Failure{}}
	for _, h := range inv.PoolHosts() {
		if slices.Contains(v.Live, h.Name) {
			hosts = append(hosts, placement.Host{Name: h.Name, Weight: h.Weight})
			p.Live = append(p.Live, h.Name)
		} else {
			p.Down = append(p.Down, h.Name)
		}
	}
	ring, err := placement.New(hosts, placement.Options{})
	if err != nil {
		return Plan{}, fmt.Errorf("place the pool's live hosts: %w", err)
	}
	for _, s := range inv.Pooled {
		p.Services = append(p.Services, service(ring, s, v, now))
	}
	for _, h := range p.Live {
		p.Failures = append(p.Failures, failure(ring.Without(h), h, inv.Pooled, p.Services, v))
	}
	return p, nil
}

func service(ring *placement.Ring, s config.PooledService, v View, now time.Time) Service {
	ps := placement.Service{Name: s.Name, Pin: s.Pin, Replicas: s.Replicas}
	owner := v.Owners[s.Name]
	placed := ring.Place(ps)
	pl := ring.PlaceOwned(ps, owner)
	out := Service{Name: s.Name, Owner: owner, Placed: placed.Owner, Replicas: nonNil(pl.Replicas),
		Wanted: s.Replicas, Holding: []string{}}
	if snap, ok := v.Latest[s.Name]; ok {
		out.Snapshot = &Snapshot{Name: snap.Name, Created: snap.Created, Age: now.Sub(snap.Created).Round(time.Second),
			Hosts: nonNil(snap.Replicas), Owner: snap.Owner}
		for _, h := range pl.Replicas {
			if slices.Contains(snap.Replicas, h) && slices.Contains(v.Live, h) {
				out.Holding = append(out.Holding, h)
			}
		}
	}
	out.UnderReplicated = len(out.Holding) < s.Replicas
	return out
}

// failure says what the loss of host would do: each service it owned is taken over by
// its first replica (in takeover order) that holds the latest committed snapshot, and
// every service that used it gets a new replica where the ring without it says.
func failure(without *placement.Ring, host string, pooled []config.PooledService, services []Service, v View) Failure {
	f := Failure{Host: host, Moves: []Move{}}
	for i, s := range services {
		owner := s.Owner
		if owner == "" {
			owner = s.Placed
		}
		if owner != host && !slices.Contains(s.Replicas, host) {
			continue
		}
		m := Move{Service: s.Name}
		newOwner := owner
		if owner == host {
			newOwner = ""
			if len(s.Holding) > 0 {
				newOwner = s.Holding[0]
				m.Takeover = newOwner
			} else {
				m.NoTakeover = "no live replica holds a committed snapshot"
			}
		}
		ps := placement.Service{Name: s.Name, Pin: pooled[i].Pin, Replicas: pooled[i].Replicas}
		after := without.PlaceOwned(ps, newOwner)
		for _, r := range after.Replicas {
			if !slices.Contains(s.Replicas, r) && r != owner {
				m.NewReplica = r
				break
			}
		}
		f.Moves = append(f.Moves, m)
	}
	return f
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Options are the dcs connection options of the inventory's pool section.
func Options(p *config.Pool) dcs.Options {
	return dcs.Options{Endpoints: p.Etcd.Endpoints, CAFile: p.Etcd.CAFile, CertFile: p.Etcd.CertFile,
		KeyFile: p.Etcd.KeyFile, DialTimeout: p.Etcd.DialTimeout, Pool: p.Name, TTL: p.LeaseTTL, Keep: p.Keep}
}
