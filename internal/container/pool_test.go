package container

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOnPool: the root disk a created or copied container gets for a storage pool; the
// caller's map is never changed (it may be the source instance's).
func TestOnPool(t *testing.T) {
	nic := map[string]string{"type": "nic", "network": "vcrsb0", "name": "eth0"}
	tests := []struct {
		name    string
		devices map[string]map[string]string
		pool    string
		want    map[string]map[string]string
	}{
		{"no pool: devices as they are", map[string]map[string]string{"eth0": nic}, "",
			map[string]map[string]string{"eth0": nic}},
		{"no devices: a root disk on the pool", nil, "cow",
			map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "cow"}}},
		{"profile root only: own root added beside the NIC", map[string]map[string]string{"eth0": nic}, "cow",
			map[string]map[string]string{"eth0": nic, "root": {"type": "disk", "path": "/", "pool": "cow"}}},
		{"own root under another name: moved, its size kept",
			map[string]map[string]string{"rootfs": {"type": "disk", "path": "/", "pool": "default", "size": "1GiB"}, "eth0": nic}, "cow",
			map[string]map[string]string{"rootfs": {"type": "disk", "path": "/", "pool": "cow", "size": "1GiB"}, "eth0": nic}},
		{"a data disk is not the root", map[string]map[string]string{"data": {"type": "disk", "path": "/data", "pool": "default", "source": "vol"}}, "cow",
			map[string]map[string]string{"data": {"type": "disk", "path": "/data", "pool": "default", "source": "vol"},
				"root": {"type": "disk", "path": "/", "pool": "cow"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cmp.Diff(nil, tt.devices)
			got := onPool(tt.devices, tt.pool)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("devices (-want +got)\n%s", diff)
			}
			if after := cmp.Diff(nil, tt.devices); after != before {
				t.Errorf("onPool changed its argument: %s", after)
			}
		})
	}
}
