package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBuildTyped: what build makes of small inventories: defaults, addresses (names
// allowed where a host:port is), enumerations.
func TestBuildTyped(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "community"), []byte("public\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
		got  func(*Inventory) any
		want any
	}{
		{"zabbix server name, default port", "zabbix: {server: zbx.example}", func(i *Inventory) any { return i.Zabbix.Server }, HostPortFrom("zbx.example", 10051)},
		{"zabbix prefix default", "zabbix: {server: zbx.example}", func(i *Inventory) any { return i.Zabbix.Prefix }, "vcrcovery"},
		{"zabbix prefix given", "zabbix: {server: zbx.example, prefix: team-b}", func(i *Inventory) any { return i.Zabbix.Prefix }, "team-b"},
		{"zabbix timeout default", "zabbix: {server: zbx.example}", func(i *Inventory) any { return i.Zabbix.Timeout }, 5 * time.Second},
		{"state_dir default", "zabbix: {server: zbx.example}", func(i *Inventory) any { return i.StateDir }, "/var/lib/vcrcovery"},
		{"dns ttl default", "zabbix: {server: zbx.example}", func(i *Inventory) any { return i.DNS.TTL }, uint32(5)},
		{"bare IPv6 dns server", "zabbix: {server: zbx.example}\ndns: {server: '::1'}", func(i *Inventory) any { return i.DNS.Server.String() }, "[::1]:53"},
		{"trapd defaults, no standby", "zabbix: {server: zbx.example}", func(i *Inventory) any { return i.Trapd }, Trapd{SpoolMax: 256 << 20, RejectRetry: 3 * time.Minute}},
		{"trapd host: first standby", "zabbix: {server: zbx.example}\nstandbys: [{name: sb, url: 'unix:///run/lxd.socket', zabbix_host: sb-vm}, {name: big, url: 'unix:///run/big.socket'}]",
			func(i *Inventory) any { return i.Trapd.ZabbixHost }, "sb-vm"},
		{"sender defaults", "zabbix: {server: zbx.example}", func(i *Inventory) any { return i.Sender }, Sender{Interval: 5 * time.Second, Concurrency: 16}},
		{"fence defaults", "zabbix: {server: zbx.example}", func(i *Inventory) any { return i.Fence }, Fence{PortTimeout: 50 * time.Millisecond, EvidenceWait: 6 * time.Second}},
		{"trap_listen all addresses", "zabbix: {server: zbx.example}\nsnmp: {trap_listen: [':162', '[::1]:1162']}", func(i *Inventory) any { return i.SNMP.TrapListen },
			[]netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:162"), netip.MustParseAddrPort("[::1]:1162")}},
		{"hypervisor name address", "zabbix: {server: zbx.example}\nhypervisors: [{name: hv1, address: 'hv1.example', community_file: community}]",
			func(i *Inventory) any { return i.Hypervisors[0].Address }, HostPortFrom("hv1.example", 161)},
		{"hypervisor version default", "zabbix: {server: zbx.example}\nhypervisors: [{name: hv1, address: 'hv1.example:1161', community_file: community}]",
			func(i *Inventory) any { return []any{i.Hypervisors[0].Version, i.Hypervisors[0].Address.Port()} }, []any{SNMPv2c, uint16(1161)}},
		{"standby agent IP", "zabbix: {server: zbx.example}\nstandbys: [{name: sb, url: 'unix:///run/lxd.socket', zabbix_agent: 10.0.0.5}]",
			func(i *Inventory) any { ap, ok := i.Standbys[0].ZabbixAgent.AddrPort(); return []any{ap, ok} }, []any{netip.MustParseAddrPort("10.0.0.5:10050"), true}},
		{"standby agent name has no AddrPort", "zabbix: {server: zbx.example}\nstandbys: [{name: sb, url: 'unix:///run/lxd.socket', zabbix_agent: 'sb.example:20050'}]",
			func(i *Inventory) any { _, ok := i.Standbys[0].ZabbixAgent.AddrPort(); return ok }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Parse([]byte(tc.yaml), dir)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, tc.got(inv), typed); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// TestBuildGivenZero: a value the file gives is never replaced by the default, so an
// explicit 0 is an error, not a silent 5s.
func TestBuildGivenZero(t *testing.T) {
	_, err := Parse([]byte("zabbix: {server: zbx.example}\nsender: {interval: 0s, concurrency: 0}\nfence: {evidence_wait: -1s}\ntrapd: {spool_max: 0}\nsnmp: {trap_listen: ['localhost:162']}\n"), "")
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{
		`snmp.trap_listen[0]: the host must be an IP address, or empty for all addresses, got "localhost:162"`,
		"trapd.spool_max: must be a positive number of bytes, got 0",
		"sender.interval: must be positive, got 0s",
		"sender.concurrency: must be 1 or more, got 0",
		"fence.evidence_wait: must be positive, got -1s",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestEnumStrings(t *testing.T) {
	got := []string{ModeWarm.String(), ModeCold.String(), SNMPv2c.String(), SNMPv3.String(),
		BackupImage.String(), BackupTarball.String(), BackupSnapshot.String(), BackupNone.String(),
		AuthSHA256.String(), PrivAES256C.String(), PrivNone.String(), StandbyMode(9).String()}
	want := []string{"warm", "cold", "2c", "3", "image", "backup", "snapshot", "", "SHA256", "AES256C", "", "unknown(9)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
