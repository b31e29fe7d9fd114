// Package placement decides, for the cooperative pool, which host owns each pooled
// service and which hosts keep its replicas. It is the seed paper's SHA-1 ring: hosts and
// services are hashed onto one circle, a service is owned by the host it lands on, and
// its replicas are the distinct hosts just after and just before it ("before and after"
// the service's hash), so that a failure or a join only moves the services near the
// host that changed.
//
// The result is a pure function of its inputs: no I/O, no clock, no map iteration.
// Every pool host computes the same placement from the same hosts and services,
// whatever order it learned them in, which is what lets each of them act on it without
// asking the others (the pool agent's etcd transactions guard the actual takeover).
//
// The ring, precisely:
//
//   - A position is the first 8 bytes of a SHA-1 digest read as a big-endian uint64
//     (the paper hashes with SHA-1; 64 bits keep its order except for ties, which are
//     broken below). Positions grow clockwise and wrap from 2^64-1 to 0.
//   - A host of weight w has w*VNodesPerWeight virtual nodes: vnode 0 sits at SHA-1 of
//     the host's name (the paper's host position), vnode i >= 1 at SHA-1 of name + "#" +
//     decimal i (inventory names cannot hold '#', so no two hosts hash the same key).
//     Raising a host's weight only adds vnodes, so it only pulls services towards
//     that host.
//   - Vnodes are ordered by (position, host name, vnode index): equal positions, however
//     unlikely, still have one order on every node.
//   - A service's point is SHA-1 of its name, ordered before every vnode at the same
//     position. A pinned service's point is its pinned host's vnode 0 itself (the paper's
//     trick: the service hashes where that host sits), whether or not that host is in
//     the ring: while the host is up the service lands on it, and when it is gone the
//     service moves as that host's own services would.
//   - The owner is the host nearest the point clockwise: the host of the first vnode at
//     or after the point, wrapping past the top. Clockwise, because then the owner's
//     first replica (its successor) is the host that becomes the owner when the owner
//     fails, so it already holds the snapshot.
//   - The replicas are then taken alternately from the two sides of the point: the next
//     host clockwise that is not chosen yet (successor), then the next host
//     counter-clockwise from the point that is not chosen yet (predecessor), then the
//     next successor, the next predecessor, and so on. Replicas lists them in that order,
//     which is also the order in which they are asked to take over.
package placement

import (
	"slices"
)

// DefaultVNodesPerWeight is the number of virtual nodes a host of weight 1 gets. 160 is
// libketama's figure: a host's share of the services is then within about 8% (one
// standard deviation, 1/sqrt(160)) of its weight's share, and a ring of 100 hosts of
// weights 1-3 (31,840 vnodes) is built in about 12 ms. Every pool host must use the same
// value, so the pool leaves it at this default.
const DefaultVNodesPerWeight = 160

// MaxWeight bounds Host.Weight, and MaxVNodesPerWeight Options.VNodesPerWeight, so a
// typo cannot make a ring of billions of vnodes.
const (
	MaxWeight          = 1000
	MaxVNodesPerWeight = 1000
)

// Host is a pool host that can own services and keep replicas.
type Host struct {
	// Name identifies the host on the ring (the inventory's standbys name).
	Name string
	// Weight scales the host's share of services; 0 counts as 1.
	Weight int
}

// Service is a pooled service to place.
type Service struct {
	// Name is hashed onto the ring unless Pin is set.
	Name string
	// Pin, when set, places the service at that host's position instead (see the
	// package comment); the host does not have to be in the ring.
	Pin string
	// Replicas is the number of hosts besides the owner that keep a copy; below 0
	// counts as 0.
	Replicas int
}

// Options tunes a ring. The zero value is what the pool uses.
type Options struct {
	// VNodesPerWeight is the number of vnodes per unit of weight; 0 means
	// DefaultVNodesPerWeight. 1 gives the paper's ring of one position per host.
	VNodesPerWeight int
}

// Placement is where one service runs and where its replicas are kept.
type Placement struct {
	Service string
	// Owner is the host that runs the service; empty only when the ring has no hosts.
	Owner string
	// Replicas are distinct hosts other than Owner, in takeover order: successor,
	// predecessor, next successor, and so on. Nil when there are none.
	Replicas []string
	// Missing is how many of the wanted replicas could not be placed because the ring
	// has fewer than Replicas+1 hosts: the service is under-replicated by that many.
	Missing int
}

// Uses reports whether host owns the service or keeps one of its replicas.
func (p Placement) Uses(host string) bool {
	return host != "" && (p.Owner == host || slices.Contains(p.Replicas, host))
}
