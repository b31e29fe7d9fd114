package placement

import (
	"cmp"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Ring is the hosts' vnodes in ring order. It never changes once built, so one Ring can
// be shared by goroutines; Without builds another.
type Ring struct {
	hosts     []Host  // sorted by name, weights normalised (0 -> 1)
	vnodes    []vnode // sorted by compareVNodes
	perWeight int
}

// vnode is one virtual node. host indexes Ring.hosts, which are sorted by name, so
// comparing indexes compares names.
type vnode struct {
	pos   uint64
	host  int32
	index int32
}

// New builds the ring of hosts, in any order. Host names must be non-empty and
// distinct, weights 0-MaxWeight.
func New(hosts []Host, opts Options) (*Ring, error) {
	per := opts.VNodesPerWeight
	if per == 0 {
		per = DefaultVNodesPerWeight
	}
	if per < 0 || per > MaxVNodesPerWeight {
		return nil, fmt.Errorf("placement: vnodes per weight: must be 0-%d, got %d", MaxVNodesPerWeight, per)
	}
	sorted := make([]Host, 0, len(hosts))
	first := make(map[string]int, len(hosts)) // only to find duplicates: never iterated
	total := 0
	for i, h := range hosts {
		if h.Name == "" {
			return nil, fmt.Errorf("placement: hosts[%d]: empty name", i)
		}
		if j, dup := first[h.Name]; dup {
			return nil, fmt.Errorf("placement: hosts[%d] %q: same name as hosts[%d]", i, h.Name, j)
		}
		first[h.Name] = i
		if h.Weight < 0 || h.Weight > MaxWeight {
			return nil, fmt.Errorf("placement: hosts[%d] %q: weight must be 0-%d, got %d", i, h.Name, MaxWeight, h.Weight)
		}
		h.Weight = max(h.Weight, 1)
		total += h.Weight * per
		sorted = append(sorted, h)
	}
	slices.SortFunc(sorted, func(a, b Host) int { return strings.Compare(a.Name, b.Name) })

	vnodes := make([]vnode, 0, total)
	var key []byte
	for hi, h := range sorted {
		for i := range h.Weight * per {
			key = vnodeKey(key[:0], h.Name, i)
			vnodes = append(vnodes, vnode{pos: position(key), host: int32(hi), index: int32(i)})
		}
	}
	slices.SortFunc(vnodes, compareVNodes)
	return &Ring{hosts: sorted, vnodes: vnodes, perWeight: per}, nil
}

func compareVNodes(a, b vnode) int {
	return cmp.Or(cmp.Compare(a.pos, b.pos), cmp.Compare(a.host, b.host), cmp.Compare(a.index, b.index))
}

// vnodeKey appends what vnode i of host name hashes: the bare name for vnode 0 (so a
// host with one vnode sits where the paper puts it), name#i after it.
func vnodeKey(b []byte, name string, i int) []byte {
	b = append(b, name...)
	if i > 0 {
		b = append(b, '#')
		b = strconv.AppendInt(b, int64(i), 10)
	}
	return b
}

// position is a ring position: the first 64 bits of the SHA-1 digest.
func position(b []byte) uint64 {
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// Hosts returns the ring's hosts sorted by name, a weight of 0 given as 1.
func (r *Ring) Hosts() []Host {
	return slices.Clone(r.hosts)
}

// Without returns the ring with host name removed: what every node computes once that
// host has failed (or what it would compute, for a plan). The other hosts keep their
// vnodes, so only the services that used the host move. An unknown name changes nothing.
func (r *Ring) Without(name string) *Ring {
	gone, found := slices.BinarySearchFunc(r.hosts, name, func(h Host, n string) int { return strings.Compare(h.Name, n) })
	if !found {
		return r
	}
	g := int32(gone)
	vnodes := make([]vnode, 0, len(r.vnodes)-r.hosts[gone].Weight*r.perWeight)
	for _, v := range r.vnodes {
		if v.host == g {
			continue
		}
		if v.host > g {
			v.host-- // hosts after the removed one shift down; their order is unchanged
		}
		vnodes = append(vnodes, v)
	}
	hosts := slices.Delete(slices.Clone(r.hosts), gone, gone+1)
	return &Ring{hosts: hosts, vnodes: vnodes, perWeight: r.perWeight}
}

// Place places one service (see the package comment for the rules).
func (r *Ring) Place(s Service) Placement {
	p := Placement{Service: s.Name}
	want := max(s.Replicas, 0)
	if len(r.vnodes) == 0 {
		p.Missing = want
		return p
	}
	at := r.land(s)
	limit := min(want+1, len(r.hosts))
	var buf [8]int32
	group := append(buf[:0], r.vnodes[at].host)
	// Two cursors leave the owner's vnode, one each way; each stops on the host it
	// picked and goes on from there for its next pick.
	for cw, ccw := at, at; len(group) < limit; {
		cw = r.next(cw, 1, group)
		group = append(group, r.vnodes[cw].host)
		if len(group) == limit {
			break
		}
		ccw = r.next(ccw, -1, group)
		group = append(group, r.vnodes[ccw].host)
	}
	p.Owner = r.hosts[group[0]].Name
	if len(group) > 1 {
		p.Replicas = make([]string, len(group)-1)
		for i, h := range group[1:] {
			p.Replicas[i] = r.hosts[h].Name
		}
	}
	p.Missing = want - (len(group) - 1)
	return p
}

// PlaceAll places services, in any order, and returns their placements sorted by
// service name.
func (r *Ring) PlaceAll(services []Service) []Placement {
	sorted := slices.Clone(services)
	slices.SortFunc(sorted, func(a, b Service) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Pin, b.Pin), cmp.Compare(a.Replicas, b.Replicas))
	})
	out := make([]Placement, len(sorted))
	for i, s := range sorted {
		out[i] = r.Place(s)
	}
	return out
}

// land returns the index of the vnode a service lands on: the first at or after its
// point, wrapping to the first vnode past the top of the ring.
func (r *Ring) land(s Service) int {
	var pos uint64
	if s.Pin != "" {
		pos = position(vnodeKey(nil, s.Pin, 0))
	} else {
		pos = position([]byte(s.Name))
	}
	i, _ := slices.BinarySearchFunc(r.vnodes, pos, func(v vnode, pos uint64) int {
		if c := cmp.Compare(v.pos, pos); c != 0 || s.Pin == "" {
			// An unpinned point sorts before every vnode at its position.
			return cmp.Or(c, 1)
		}
		// A pinned point is the pinned host's vnode 0: order by name, then index.
		return cmp.Or(strings.Compare(r.hosts[v.host].Name, s.Pin), cmp.Compare(v.index, 0))
	})
	if i == len(r.vnodes) {
		i = 0
	}
	return i
}

// next returns the index of the first vnode after i, going dir (1 clockwise, -1
// counter-clockwise), whose host is not in group. There is one as long as group holds
// fewer than all the hosts, which Place ensures.
func (r *Ring) next(i, dir int, group []int32) int {
	n := len(r.vnodes)
	for {
		i = (i + dir + n) % n
		if !slices.Contains(group, r.vnodes[i].host) {
			return i
		}
	}
}

// PlaceOwned places a service whose owner is already decided (ownership is sticky in
// the pool: the host that holds the service's owner key in etcd keeps it even when the
// ring would now pick another). The replicas are the ring's group for the service,
// owner included as the ring ranks it, minus the actual owner, in the same takeover
// order; so a host that rejoins gets back the replicas the ring gives it and no
// ownership. With owner empty or the ring's own choice it is Place.
func (r *Ring) PlaceOwned(s Service, owner string) Placement {
	p := r.Place(s)
	if owner == "" || owner == p.Owner {
		return p
	}
	want := max(s.Replicas, 0)
	// One host more than usual: the owner may be one of the group, and is skipped.
	wide := r.Place(Service{Name: s.Name, Pin: s.Pin, Replicas: want + 1})
	out := Placement{Service: s.Name, Owner: owner}
	for _, h := range append([]string{wide.Owner}, wide.Replicas...) {
		if h != "" && h != owner && len(out.Replicas) < want {
			out.Replicas = append(out.Replicas, h)
		}
	}
	out.Missing = want - len(out.Replicas)
	return out
}
