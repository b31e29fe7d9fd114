package migration

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMapNetworks(t *testing.T) {
	target := map[string]bool{"vcrbig0": true}
	has := func(n string) (bool, error) { return target[n], nil }
	nic := func(net string) map[string]string {
		return map[string]string{"type": "nic", "network": net, "name": "eth0"}
	}
	disk := map[string]string{"type": "disk", "path": "/data", "source": "/srv"}
	tests := []struct {
		name       string
		devices    map[string]map[string]string
		mapTo      string
		want       map[string]map[string]string
		wantMapped []string
		wantErr    error
	}{
		{name: "no devices (profile NICs)", devices: nil},
		{name: "network present", devices: map[string]map[string]string{"eth0": nic("vcrbig0"), "data": disk}, mapTo: "vcrbig0"},
		{name: "mapped", devices: map[string]map[string]string{"eth0": nic("vcrsb0"), "data": disk}, mapTo: "vcrbig0",
			want:       map[string]map[string]string{"eth0": nic("vcrbig0"), "data": disk},
			wantMapped: []string{"eth0: vcrsb0 -> vcrbig0"}},
		{name: "unmapped", devices: map[string]map[string]string{"eth0": nic("vcrsb0")}, wantErr: ErrUnmapped},
		{name: "mapped to a missing network", devices: map[string]map[string]string{"eth0": nic("vcrsb0")}, mapTo: "nope", wantErr: ErrUnmapped},
		{name: "parent-style NIC left alone", devices: map[string]map[string]string{"eth0": {"type": "nic", "nictype": "bridged", "parent": "br0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cmp.Diff(nil, tt.devices)
			got, mapped, err := MapNetworks(tt.devices, tt.mapTo, has)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("devices (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantMapped, mapped); diff != "" {
				t.Errorf("mapped (-want +got):\n%s", diff)
			}
			if after := cmp.Diff(nil, tt.devices); after != before {
				t.Errorf("the source's devices were modified")
			}
		})
	}
}
