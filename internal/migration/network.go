package migration

import (
	"fmt"
	"sort"
)

// MapNetworks returns the container's own devices as the target must get them: a NIC
// whose "network" names a managed network the target lacks is attached to mapTo (the
// target's standbys[].network) instead. Without mapTo, or when mapTo is missing too,
// it fails with ErrUnmapped: LXD would otherwise create the copy and fail only when
// starting it, in the middle of the cut-over. NICs from profiles are the target's own
// profiles' business (checked to exist by the caller). devices is never modified; the
// result is nil when nothing changes. has asks the target.
func MapNetworks(devices map[string]map[string]string, mapTo string, has func(network string) (bool, error)) (map[string]map[string]string, []string, error) {
	var names []string
	for k, d := range devices {
		if d["type"] == "nic" && d["network"] != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out map[string]map[string]string
	var mapped []string
	for _, k := range names {
		net := devices[k]["network"]
		ok, err := has(net)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			continue
		}
		if mapTo == "" {
			return nil, nil, fmt.Errorf("device %s: network %s: %w (set standbys[].network)", k, net, ErrUnmapped)
		}
		if ok, err := has(mapTo); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("standbys[].network %s is not a managed network there either", mapTo)
			}
			return nil, nil, fmt.Errorf("device %s: network %s: %w: %v", k, net, ErrUnmapped, err)
		}
		if out == nil {
			out = make(map[string]map[string]string, len(devices))
			for dk, dv := range devices {
				out[dk] = dv
			}
		}
		d := make(map[string]string, len(devices[k]))
		for dk, dv := range devices[k] {
			d[dk] = dv
		}
		d["network"] = mapTo
		out[k] = d
		mapped = append(mapped, fmt.Sprintf("%s: %s -> %s", k, net, mapTo))
	}
	return out, mapped, nil
}
