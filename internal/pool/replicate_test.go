package pool

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/migration"
)

// TestSnapshotSize: a commit records the snapshot's size: LXD's figure where the
// server reports disk usage, else du inside the running container; a stopped
// container on a server without usage (the step-down's final snapshot) commits 0,
// unknown, rather than a guess.
func TestSnapshotSize(t *testing.T) {
	const self = "h1"
	replica, _ := groupOf(t, self)
	tests := []struct {
		name    string
		usage   bool // the server reports disk usage
		running bool
		want    string
	}{
		{name: "LXD reports the usage", usage: true, running: true, want: "size 5000"},
		{name: "LXD reports the usage of a stopped container", usage: true, want: "size 5000"},
		{name: "no usage from LXD: du in the running container", running: true, want: "size 5000"},
		{name: "no usage from LXD, stopped: unknown", want: "size 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, self, hosts3, "svc")
			r.put(self, "svc", tt.running)
			r.servers[self].ctrs["svc"].size = 5000
			r.servers[self].usage = tt.usage
			r.store.owner = r.sess.mine()
			r.ready()
			s := r.service("svc")
			s.addr = answering
			if err := s.replicate(t.Context(), r.sess); err != nil {
				t.Fatal(err)
			}
			want := []string{
				"h1 snapshot svc",
				"copy svc h1 -> " + replica + " (refresh false)",
				"commit svc " + rigSnap + " on [" + replica + "] at 127.0.0.1 " + tt.want,
			}
			if diff := cmp.Diff(want, r.j.get()); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCopyNetworks: a copy carries the snapshots with the owner's own NIC devices,
// which LXD refuses on a host without their network; such a copy is not even tried
// (with or without standbys[].network, which cannot map it), and a snapshot no replica
// took is dropped, not committed. A NIC from a profile, or a network the replica has
// too, is copied.
func TestCopyNetworks(t *testing.T) {
	const self = "h1"
	replica, _ := groupOf(t, self)
	nic := map[string]map[string]string{"eth0": {"type": "nic", "network": "net1", "name": "eth0"}}
	copied := []string{
		"h1 snapshot svc",
		"copy svc h1 -> " + replica + " (refresh false)",
		"commit svc " + rigSnap + " on [" + replica + "] at 127.0.0.1 size 0",
	}
	refused := []string{"h1 snapshot svc", "h1 delete snapshot svc/" + rigSnap}
	tests := []struct {
		name     string
		devices  map[string]map[string]string
		networks []string // the replica's managed networks
		mapTo    string   // the replica's standbys[].network
		want     []string
		wantErr  []error
	}{
		{name: "NIC from the profile", want: copied},
		{name: "own NIC on a network the replica has too", devices: nic, networks: []string{"net1", "net2"}, want: copied},
		{name: "own NIC on a network the replica lacks", devices: nic, networks: []string{"net2"}, want: refused,
			wantErr: []error{errNoHolder}},
		{name: "the same with standbys[].network set", devices: nic, networks: []string{"net2"}, mapTo: "net2", want: refused,
			wantErr: []error{errNoHolder}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, self, hosts3, "svc")
			r.put(self, "svc", true)
			r.servers[self].ctrs["svc"].devices = tt.devices
			r.servers[replica].networks = tt.networks
			for i := range r.a.Inventory.Standbys {
				if r.a.Inventory.Standbys[i].Name == replica {
					r.a.Inventory.Standbys[i].Network = tt.mapTo
				}
			}
			r.store.owner = r.sess.mine()
			r.ready()
			s := r.service("svc")
			s.addr = answering
			err := s.replicate(t.Context(), r.sess)
			for _, e := range tt.wantErr {
				if !errors.Is(err, e) {
					t.Errorf("error %v, want %v", err, e)
				}
			}
			if tt.wantErr == nil && err != nil {
				t.Errorf("error %v", err)
			}
			if diff := cmp.Diff(tt.want, r.j.get()); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCheckNetworks: the refusal says why: a network not mapped, or mapped by
// standbys[].network but carried unmapped by the snapshots; both are errNICNotPortable.
func TestCheckNetworks(t *testing.T) {
	nic := map[string]map[string]string{"eth0": {"type": "nic", "network": "net1"}}
	for _, tt := range []struct {
		name    string
		mapTo   string
		wantErr []error
	}{
		{name: "no standbys[].network", wantErr: []error{migration.ErrUnmapped, errNICNotPortable}},
		{name: "standbys[].network net2", mapTo: "net2", wantErr: []error{errNICNotPortable}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "h1", hosts3, "svc")
			r.a.Inventory.Standbys[1].Network = tt.mapTo
			r.servers["h2"].networks = []string{"net2"}
			r.ready()
			err := r.service("svc").checkNetworks(t.Context(), r.servers["h2"], "h2", nic)
			for _, e := range tt.wantErr {
				if !errors.Is(err, e) {
					t.Errorf("error %v, want %v", err, e)
				}
			}
			t.Log(err)
		})
	}
}
