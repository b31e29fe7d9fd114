package pool

import (
	"slices"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/dcs"
	"github.com/vcrcovery/vcrcovery/internal/placement"
)

// Candidates are the hosts that may take an ownerless service over, in the order in
// which they try: every live host in the ring's takeover order for the service (its
// placed owner, then successor, predecessor, ...), keeping only those that hold the
// latest committed snapshot (its replicas as committed, and the host that committed
// it). Without any committed snapshot, only the placed owner may start the service
// (from its backup): a second host could not know better. Every live host computes
// the same list from the same etcd state.
func Candidates(ring *placement.Ring, s placement.Service, latest *dcs.Snapshot) []string {
	all := ring.Place(placement.Service{Name: s.Name, Pin: s.Pin, Replicas: len(ring.Hosts())})
	if all.Owner == "" {
		return nil
	}
	if latest == nil {
		return []string{all.Owner}
	}
	var out []string
	for _, h := range append([]string{all.Owner}, all.Replicas...) {
		if h == latest.Owner || slices.Contains(latest.Replicas, h) {
			out = append(out, h)
		}
	}
	return out
}

// ClaimDelay is how long a candidate of rank waits, after it first saw the service
// without an owner, before it claims: the first at once, each next one a lease TTL
// later, so that the best placed candidate wins unless it is dead or slow, and a dead
// first candidate (its lease not expired yet) costs the next one only a TTL. The claim
// itself is an etcd transaction: whoever claims first wins, delay or not.
func ClaimDelay(rank int, ttl time.Duration) time.Duration {
	return time.Duration(rank) * ttl
}
