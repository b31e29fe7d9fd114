package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const testKey = "key \"ddns-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0LXNlY3JldC1zZWNyZXQ=\";\n};\n"

// stage copies the inventory src into a temporary folder next to the secret files that
// testdata inventories name. Git does not keep file modes beyond the executable bit, so
// the files with 0600 modes are made here rather than committed.
func stage(t *testing.T, src string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	files := map[string]struct {
		content string
		mode    os.FileMode
	}{
		"tsig.key":     {testKey, 0o600},
		"web1.key":     {strings.Replace(testKey, "ddns-key", "web1-key", 1), 0o600},
		"loose.key":    {testKey, 0o644},
		"broken.key":   {"key \"ddns-key\" { algorithm hmac-sha256; };\n", 0o600},
		"zabbix-token": {"0123456789abcdef\n", 0o600},
		"communities":  {"public\n", 0o600},
		"v3-auth":      {"authpass1\n", 0o600},
		"v3-priv":      {"privpass1\n", 0o600},
		"client.key":   {"not parsed by config\n", 0o600},
	}
	for name, f := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(f.content), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "vcrcovery.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// typed compares the inventory's value types (unexported fields) by ==.
var typed = cmpopts.EquateComparable(HostPort{}, netip.Addr{}, netip.AddrPort{})

func TestLoadValid(t *testing.T) {
	dir, path := stage(t, "testdata/valid.yaml")
	inv, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// Defaults, normalisation and relative file names resolved against the inventory.
	checks := []struct {
		name      string
		got, want any
	}{
		{"zabbix.server default port", inv.Zabbix.Server.String(), "127.0.0.1:10051"},
		{"zabbix.timeout", inv.Zabbix.Timeout, 3 * time.Second},
		{"zabbix token path", inv.Zabbix.APITokenFile, filepath.Join(dir, "zabbix-token")},
		{"dns.zone canonical", inv.DNS.Zone, "lab.vcrcovery.test."},
		{"dns.timeout default", inv.DNS.Timeout, 2 * time.Second},
		{"dns.ttl", inv.DNS.TTL, uint32(2)},
		{"tsig key read", inv.DNS.TSIGKey.Name, "ddns-key."},
		{"hypervisor default version", inv.Hypervisors[0].Version, SNMPv2c},
		{"hypervisor default timeout", inv.Hypervisors[0].Timeout, 2 * time.Second},
		{"hypervisor default port", inv.Hypervisors[1].Address, HostPortFrom("192.0.2.7", 161)},
		{"hypervisor v3", inv.Hypervisors[1].Version, SNMPv3},
		{"hypervisor v3 user", inv.Hypervisors[1].User.Name, "trapper"},
		{"hypervisor zabbix host default", inv.Hypervisors[1].ZabbixHost, "kvm2"},
		{"user auth", inv.SNMP.Users[0].AuthProtocol, AuthSHA256},
		{"user priv", inv.SNMP.Users[0].PrivProtocol, PrivAES},
		{"uuid", inv.Services[0].VMUUID.String(), "6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01"},
		{"primary address", inv.Services[0].PrimaryAddress, netip.MustParseAddr("10.77.1.11")},
		{"dns_name canonical", inv.Services[0].DNSName, "web1.lab.vcrcovery.test."},
		{"mode warm", inv.Services[0].Standby.Mode, ModeWarm},
		{"mode cold", inv.Services[1].Standby.Mode, ModeCold},
		{"no backup", inv.Services[0].Standby.Backup.Kind, BackupNone},
		{"container default", inv.Services[0].Standby.Container, "web1"},
		{"zabbix_host default", inv.Services[0].ZabbixHost, "web1"},
		{"zabbix_host given", inv.Services[1].ZabbixHost, "db1-vm"},
		{"probe timeout default", inv.Services[0].Probe.Timeout, 10 * time.Second},
		{"probe timeout given", inv.Services[1].Probe.Timeout, 5 * time.Second},
		{"hook timeout default", inv.Services[1].Hooks[0].Timeout, 30 * time.Second},
		{"ipv6 listen kept", inv.SNMP.TrapListen[1], netip.MustParseAddrPort("[::1]:20163")},
		{"state_dir", inv.StateDir, "/var/lib/vcrcovery"},
		{"standby agent default port", inv.Standbys[0].ZabbixAgent, HostPortFrom("127.0.0.1", 10050)},
		{"standby agent optional", inv.Standbys[1].ZabbixAgent.IsZero(), true},
		{"trapd", inv.Trapd, Trapd{ZabbixHost: "standby-vm", SpoolMax: 64 << 20, RejectRetry: 2 * time.Minute}},
		{"sender", inv.Sender, Sender{Interval: 10 * time.Second, FreshWait: 2 * time.Second, Concurrency: 8}},
		{"fence", inv.Fence, Fence{PortTimeout: 100 * time.Millisecond, EvidenceWait: 4 * time.Second}},
		{"sync command", *inv.Services[0].Sync, Sync{Command: []string{"rsync", "-a", "rsync://10.77.1.11/data/", "/srv/data/"},
			Period: time.Minute, Timeout: time.Minute, MaxAge: 3 * time.Minute}},
		{"sync lag defaults", *inv.Services[1].Sync, Sync{LagCommand: []string{"/usr/local/bin/replica-lag"},
			Period: 5 * time.Minute, Timeout: 2 * time.Minute, MaxAge: 15 * time.Minute}},
		{"failback steps", inv.Services[0].Failback.Steps(), []Hook{
			{Name: "quiesce", Command: []string{"/usr/local/bin/readonly", "on"}, Timeout: 30 * time.Second},
			{Name: "reverse-sync", Command: []string{"rsync", "-a", "/srv/data/", "rsync://10.77.1.11/data/"}, Timeout: 5 * time.Minute},
			{Name: "verify", Command: []string{"/usr/local/bin/compare", "10.77.1.11"}, Timeout: 30 * time.Second}}},
		{"no failback steps", inv.Services[1].Failback.Steps(), []Hook(nil)},
		{"service key file", inv.Services[0].TSIGKeyFile, filepath.Join(dir, "web1.key")},
		{"own key signs its name", inv.DNSClient().KeyFor("web1.lab.vcrcovery.test").Name, "web1-key."},
		{"shared key signs the others", inv.DNSClient().KeyFor("db1.lab.vcrcovery.test.").Name, "ddns-key."},
		{"recover hooks leave out the test phase", len(inv.Services[1].Hooks), 1},
		{"test hooks", inv.Services[1].TestHooks, []Hook{{Name: "replica-answers", Command: []string{"/usr/local/bin/replica-lag"}, Timeout: 30 * time.Second}}},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got, typed); diff != "" {
			t.Errorf("%s (-want +got)\n%s", c.name, diff)
		}
	}
	if s, ok := inv.Service("db1"); !ok || s.Standby.Backup != (Backup{Kind: BackupTarball, Source: "/var/backups/db1.tar.gz", MaxAge: 26 * time.Hour}) {
		t.Errorf("Service(db1) = %+v, %v", s, ok)
	}
	if _, ok := inv.Service("nope"); ok {
		t.Error("Service(nope) found")
	}
}

// TestBadInventories maps each file in testdata/bad to the exact errors named in its
// "# want:" lines (DIR stands for the staging folder).
func TestBadInventories(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			dir, path := stage(t, f)
			b, _ := os.ReadFile(f)
			var want []string
			for _, line := range strings.Split(string(b), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					want = append(want, strings.ReplaceAll(w, "DIR", dir))
				}
			}
			if len(want) == 0 {
				t.Fatal("no # want: lines")
			}
			_, err := Load(path)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load error = %v, want config.Errors", err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			sort.Strings(want)
			sort.Strings(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("errors (-want +got)\n%s", diff)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

func TestTwoDocuments(t *testing.T) {
	_, err := Parse([]byte("zabbix: {server: a}\n---\nzabbix: {server: b}\n"), "")
	if err == nil || !strings.Contains(err.Error(), "more than one YAML document") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzParse: the inventory is typed by people; no input may panic the loader.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/valid.yaml", "testdata/bad/shape.yaml", "testdata/bad/unknown-field.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: &x [*x]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := Parse(b, "/nonexistent")
		if err == nil && inv == nil {
			t.Fatal("nil inventory without error")
		}
	})
}
