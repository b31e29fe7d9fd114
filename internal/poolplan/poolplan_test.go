package poolplan

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/dcs"
)

const testKey = "key \"k\" { algorithm hmac-sha256; secret \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"; };\n"

func inventory(t *testing.T) *config.Inventory {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k"), []byte(testKey), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := config.Parse([]byte(`
zabbix: {server: 127.0.0.1}
dns: {server: 127.0.0.1, zone: t., tsig_key_file: k}
pool: {name: t, etcd: {endpoints: ["http://127.0.0.1:9"]}}
standbys:
  - {name: a, url: "unix:///a", weight: 1}
  - {name: b, url: "unix:///b", weight: 1}
  - {name: c, url: "unix:///c", weight: 1}
services:
  - {name: s1, dns_name: s1.t., probe: {ports: [80]}, pool: {replicas: 1, pin: a, backup: {kind: image, source: busybox}}}
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

var now = time.Date(2026, 12, 2, 23, 0, 0, 0, time.UTC)

// TestBuild: ownership, holders of the latest snapshot, under-replication and what a
// failure would do, from small views.
func TestBuild(t *testing.T) {
	inv := inventory(t)
	// The owner the ring picks for a service pinned at a, and its replica.
	all, err := Build(inv, View{Live: []string{"a", "b", "c"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	placed, replica := all.Services[0].Placed, all.Services[0].Replicas[0]
	if placed != "a" {
		t.Fatalf("pinned at a, the ring placed it on %s", placed)
	}
	third := map[string]string{"a": "", "b": "c", "c": "b"}[replica]
	snap := dcs.Snapshot{Name: "p1", Created: now.Add(-42 * time.Second), Replicas: []string{replica}, Owner: "a"}
	tests := []struct {
		name  string
		view  View
		check func(t *testing.T, p Plan)
	}{
		{"healthy", View{Live: []string{"a", "b", "c"}, Owners: map[string]string{"s1": "a"}, Latest: map[string]dcs.Snapshot{"s1": snap}},
			func(t *testing.T, p Plan) {
				s := p.Services[0]
				if s.UnderReplicated || s.Owner != "a" || !cmp.Equal(s.Holding, []string{replica}) || s.Snapshot.Age != 42*time.Second {
					t.Errorf("service = %+v", s)
				}
				want := Failure{Host: "a", Moves: []Move{{Service: "s1", Takeover: replica, NewReplica: third}}}
				if diff := cmp.Diff(want, p.Failures[0]); diff != "" {
					t.Errorf("failure of a (-want +got)\n%s", diff)
				}
				if diff := cmp.Diff(Failure{Host: third, Moves: []Move{}}, failureOf(p, third)); diff != "" {
					t.Errorf("failure of the unused host (-want +got)\n%s", diff)
				}
			}},
		{"replica down", View{Live: []string{"a", third}, Owners: map[string]string{"s1": "a"}, Latest: map[string]dcs.Snapshot{"s1": snap}},
			func(t *testing.T, p Plan) {
				s := p.Services[0]
				if !s.UnderReplicated || len(s.Holding) != 0 || !cmp.Equal(p.Down, []string{replica}) || !cmp.Equal(s.Replicas, []string{third}) {
					t.Errorf("plan = %+v", p)
				}
				m := failureOf(p, "a").Moves[0]
				if m.Takeover != "" || m.NoTakeover == "" {
					t.Errorf("owner's failure with no holder alive: %+v", m)
				}
			}},
		{"nothing committed", View{Live: []string{"a", "b", "c"}, Owners: map[string]string{"s1": "a"}},
			func(t *testing.T, p Plan) {
				if s := p.Services[0]; !s.UnderReplicated || s.Snapshot != nil {
					t.Errorf("service = %+v", s)
				}
				if m := failureOf(p, "a").Moves[0]; m.NoTakeover == "" {
					t.Errorf("takeover without a committed snapshot: %+v", m)
				}
			}},
		{"sticky owner", View{Live: []string{"a", "b", "c"}, Owners: map[string]string{"s1": replica}},
			func(t *testing.T, p Plan) {
				s := p.Services[0]
				if s.Owner != replica || s.Placed != "a" || !cmp.Equal(s.Replicas, []string{"a"}) {
					t.Errorf("owned by %s: %+v, want a as its replica", replica, s)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Build(inv, tc.view, now)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
			var out bytes.Buffer
			if err := Write(&out, p); err != nil || !strings.Contains(out.String(), "s1") {
				t.Errorf("Write: %v\n%s", err, out.String())
			}
		})
	}
}

func failureOf(p Plan, host string) Failure {
	for _, f := range p.Failures {
		if f.Host == host {
			return f
		}
	}
	return Failure{Host: host}
}

type fakeReader struct {
	members dcs.Members
	owners  map[string]dcs.Owner
	err     error
}

func (f fakeReader) Members(context.Context) (dcs.Members, error) { return f.members, f.err }
func (f fakeReader) Owner(_ context.Context, s string) (dcs.Owner, error) {
	return f.owners[s], nil
}
func (f fakeReader) Latest(context.Context, string) (dcs.Snapshot, bool, error) {
	return dcs.Snapshot{}, false, nil
}

func TestRead(t *testing.T) {
	inv := inventory(t)
	r := fakeReader{members: dcs.Members{Live: map[string]dcs.Member{"b": {Host: "b"}, "a": {Host: "a"}}},
		owners: map[string]dcs.Owner{"s1": {Host: "b", CreateRevision: 7}}}
	v, err := Read(context.Background(), r, inv)
	if err != nil {
		t.Fatal(err)
	}
	want := View{Live: []string{"a", "b"}, Owners: map[string]string{"s1": "b"}, Latest: map[string]dcs.Snapshot{}}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	r.err = dcs.ErrUnreachable
	if _, err := Read(context.Background(), r, inv); !errors.Is(err, dcs.ErrUnreachable) {
		t.Errorf("Read with etcd down: %v", err)
	}
}
