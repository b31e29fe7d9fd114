package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/dcs"
)

// TestPoolDefaultsAgreeWithDCS: config repeats dcs's defaults rather than importing it
// (which would link the etcd client into every binary); they must not drift.
func TestPoolDefaultsAgreeWithDCS(t *testing.T) {
	if defaultPoolLeaseTTL != dcs.DefaultTTL || defaultPoolKeep != dcs.DefaultKeep || defaultPoolDialTimeout != dcs.DefaultDialTimeout {
		t.Fatalf("config pool defaults (ttl %s, keep %d, dial %s) differ from dcs (%s, %d, %s)",
			defaultPoolLeaseTTL, defaultPoolKeep, defaultPoolDialTimeout, dcs.DefaultTTL, dcs.DefaultKeep, dcs.DefaultDialTimeout)
	}
}

// TestPoolBuild: a pool section with defaults, weighted standbys as pool hosts, and a
// pooled service kept apart from the protected ones.
func TestPoolBuild(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tsig.key"), []byte(testKey), 0o600); err != nil {
		t.Fatal(err)
	}
	y := `
zabbix: {server: 127.0.0.1}
dns: {server: 127.0.0.1, zone: lab.vcrcovery.test, tsig_key_file: tsig.key}
pool:
  name: lab
  etcd: {endpoints: ["http://127.0.0.1:20379", "https://etcd2.example:2379"]}
standbys:
  - {name: a, url: 'unix:///run/a.socket', weight: 2}
  - {name: b, url: 'unix:///run/b.socket', weight: 1}
  - {name: c, url: 'unix:///run/c.socket'}
services:
  - name: svc1
    dns_name: svc1.lab.vcrcovery.test
    probe: {ports: [8080]}
    pool: {replicas: 2, pin: b, storage_pool: cow, backup: {kind: image, source: busybox}}
`
	inv, err := Parse([]byte(y), dir)
	if err != nil {
		t.Fatal(err)
	}
	wantPool := &Pool{Name: "lab", LeaseTTL: 2 * time.Second, SnapshotPeriod: 30 * time.Second, Keep: 3,
		Etcd: Etcd{Endpoints: []string{"http://127.0.0.1:20379", "https://etcd2.example:2379"}, DialTimeout: 2 * time.Second}}
	if diff := cmp.Diff(wantPool, inv.Pool); diff != "" {
		t.Errorf("pool (-want +got)\n%s", diff)
	}
	var hosts []string
	for _, h := range inv.PoolHosts() {
		hosts = append(hosts, h.Name)
	}
	if diff := cmp.Diff([]string{"a", "b"}, hosts); diff != "" {
		t.Errorf("pool hosts (-want +got)\n%s", diff)
	}
	if len(inv.Services) != 0 {
		t.Errorf("a pooled service is among the protected ones: %+v", inv.Services)
	}
	s, ok := inv.PooledService("svc1")
	if !ok {
		t.Fatal("PooledService(svc1) not found")
	}
	want := PooledService{Name: "svc1", ZabbixHost: "svc1", DNSName: "svc1.lab.vcrcovery.test.",
		Probe: Probe{Ports: []int{8080}, Timeout: 10 * time.Second}, Replicas: 2, Pin: "b",
		Container: "svc1", StoragePool: "cow", Backup: Backup{Kind: BackupImage, Source: "busybox"}}
	if diff := cmp.Diff(want, *s, typed); diff != "" {
		t.Errorf("pooled service (-want +got)\n%s", diff)
	}
	if _, ok := inv.Service("svc1"); ok {
		t.Error("Service(svc1) finds a pooled service: recover would treat it as protected")
	}
}
