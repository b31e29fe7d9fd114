package main

// Helpers of the lab tests: a Zabbix test host with trapper items, history reads, a
// trapd inventory derived from the lab's, trapd run in-process, a TCP proxy in front of
// the trapper (lab.Proxy), and trap senders.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"gopkg.in/yaml.v3"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/lab/labzabbix"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/trapd"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Zabbix item value types (item object).
const (
	typeChar     = 1
	typeUnsigned = 3
	typeText     = 4
)

// rawKey is the forward item of the tests: traps that are not guest traps, as text.
const rawKey = "vcr.trapd.test.raw"

// uniq returns a name unique to this test run.
func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9)
}

// hostItems are the trapper items of a test hypervisor host for guests uuids, plus
// the discovery item (text, so its history can be read), the forward item and the
// trapd counters.
func hostItems(uuids ...string) map[string]int {
	items := map[string]int{zabbix.KeyGuestDiscovery: typeText, rawKey: typeText}
	for _, u := range uuids {
		items[zabbix.KeyGuestState(u)] = typeUnsigned
		items[zabbix.KeyGuestStateText(u)] = typeChar
	}
	for _, c := range []string{"received", "decoded", "rejected", "malformed", "sent", "spooled", "replayed", "dropped"} {
		items[zabbix.KeyTrapd(c)] = typeUnsigned
	}
	items[zabbix.KeyTrapdVersion] = typeChar
	return items
}

// testHost creates a Zabbix host with trapper items (key -> value type), deleted when
// the test ends, and makes the server's configuration cache see it.
func testHost(t testing.TB, api *zabbix.API, items map[string]int) string {
	t.Helper()
	name, _ := lab.TrapperHost(t, api, uniq("vcr-trapd-test"), items)
	return name
}

// waitHistory polls until cond holds for the item's values (the history syncer writes
// about every second), failing the test at the timeout.
func waitHistory(t testing.TB, api *zabbix.API, host, key string, valueType int, timeout time.Duration, cond func([]string) bool) []string {
	t.Helper()
	h, ok := labzabbix.WaitHistory(t, api, host, key, valueType, timeout, func(h []labzabbix.Value) bool { return cond(labzabbix.Values(h)) })
	if !ok {
		t.Fatalf("%s %s: history %v does not show what the test waits for", host, key, h)
	}
	return labzabbix.Values(h)
}

// labInventory returns the lab's inventory as a YAML tree to modify.
func labInventory(t testing.TB) map[string]any {
	t.Helper()
	b, err := os.ReadFile(lab.Need(t, "INVENTORY"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// secretFile writes a 0600 file in dir.
func secretFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// v3 users of the tests, in the inventory and for the senders.
var (
	userAlice = v3user{"trapd-alice", "SHA", "alice-auth-secret", "AES", "alice-priv-secret"}
	userBob   = v3user{"trapd-bob", "SHA256", "bob-auth-secret-2", "AES", "bob-priv-secret-2"}
)

type v3user struct{ name, auth, authPass, priv, privPass string }

// writeInventory writes a trapd inventory derived from the lab's: its own state
// folder, the hypervisor on host hypHost, the given listen address, trapper address
// (a proxy, say), communities (the lab's and "trapd-test"), the two v3 users and
// snmptrapd log; mod may change more. It returns the loaded inventory.
func writeInventory(t testing.TB, hypHost, listen, trapper, trapdLog string, mod func(m map[string]any)) *config.Inventory {
	t.Helper()
	dir := t.TempDir()
	m := labInventory(t)
	labCommunity, err := os.ReadFile(lab.Need(t, "SNMP_COMMUNITY_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	m["state_dir"] = filepath.Join(dir, "state")
	z := m["zabbix"].(map[string]any)
	z["server"] = trapper
	snmp := m["snmp"].(map[string]any)
	snmp["trap_listen"] = []string{listen}
	snmp["communities_file"] = secretFile(t, dir, "communities", strings.TrimSpace(string(labCommunity))+"\ntrapd-test")
	snmp["snmptrapd_log"] = trapdLog
	var users []map[string]any
	for _, u := range []v3user{userAlice, userBob} {
		users = append(users, map[string]any{"name": u.name, "auth_protocol": u.auth,
			"auth_passphrase_file": secretFile(t, dir, u.name+".auth", u.authPass),
			"priv_protocol":        u.priv, "priv_passphrase_file": secretFile(t, dir, u.name+".priv", u.privPass)})
	}
	snmp["users"] = users
	hyps := m["hypervisors"].([]any)
	hyps[0].(map[string]any)["zabbix_host"] = hypHost
	// No fast path unless a test asks: the lab's web1 has it, and a test trap about
	// web1 must never start a real recovery.
	for _, s := range m["services"].([]any) {
		s.(map[string]any)["fast_path"] = false
	}
	if mod != nil {
		mod(m)
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "vcrcovery.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := config.Load(path)
	if err != nil {
		t.Fatalf("test inventory: %v\n%s", err, b)
	}
	return inv
}

// freeUDP returns a UDP address on 127.0.0.1 that is free now.
func freeUDP(t testing.TB) string { return lab.FreeUDP(t) }

// running is a trapd Server run in-process.
type running struct {
	s      *trapd.Server
	log    *lab.SyncBuffer
	cancel context.CancelFunc
	served chan error
	once   sync.Once
}

// startTrapd runs trapd with the inventory; opt adjusts the options (defaults are the
// flags' defaults, counters every second to the hypervisor test host).
func startTrapd(t testing.TB, inv *config.Inventory, mode string, opt func(o *trapd.Options)) *running {
	t.Helper()
	r := &running{log: &lab.SyncBuffer{}, served: make(chan error, 1)}
	logger := slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o := trapd.Defaults(inv, logger)
	o.Mode = mode
	o.StatsInterval = time.Second
	o.ForwardKey = rawKey
	o.TrapdHost = inv.Hypervisors[0].ZabbixHost
	o.RejectRetry = 30 * time.Second
	if opt != nil {
		opt(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := trapd.New(ctx, o)
	if err != nil {
		cancel()
		t.Fatalf("trapd.New: %v", err)
	}
	if err := s.Listen(); err != nil {
		cancel()
		s.Close()
		t.Fatalf("trapd Listen: %v", err)
	}
	r.s, r.cancel = s, cancel
	go func() { r.served <- s.Serve(ctx) }()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("trapd log:\n%s", r.log.String())
		}
	})
	return r
}

// stop is what SIGTERM does: Serve flushes and returns; then Close.
func (r *running) stop(t testing.TB) {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("Serve did not return 60 s after its context ended")
		}
		r.s.Close()
	})
}

func (r *running) port() int { return r.s.LocalAddr().(*net.UDPAddr).Port }

func (r *running) counter(name string) uint64 {
	for _, c := range r.s.Counters().All() {
		if c.Name == name {
			return c.Value
		}
	}
	panic("no counter " + name)
}

func (r *running) waitCounter(t testing.TB, name string, want uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for r.counter(name) < want {
		if time.Now().After(deadline) {
			t.Fatalf("counter %s = %d, want %d after %v; counters %v", name, r.counter(name), want, timeout, r.s.Counters().All())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trapSender sends SNMPv2c traps with gosnmp.
type trapSender struct {
	g *gosnmp.GoSNMP
}

func newTrapSender(t testing.TB, addr, community string) *trapSender {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	g := &gosnmp.GoSNMP{Target: host, Port: uint16(p), Version: gosnmp.Version2c, Community: community, Timeout: 2 * time.Second}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Conn.Close() })
	return &trapSender{g: g}
}

// guest sends a libvirtGuestNotif.
func (s *trapSender) guest(t testing.TB, name, uuid string, state libvirtmib.GuestState) {
	t.Helper()
	u, err := libvirtmib.ParseUUID(uuid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.g.SendTrap(gosnmp.SnmpTrap{Variables: guestVars(name, u, state)}); err != nil {
		t.Fatal(err)
	}
}

func guestVars(name string, u libvirtmib.UUID, state libvirtmib.GuestState) []gosnmp.SnmpPDU {
	return lab.GuestNotif(name, u, state)
}

// seqOID is the varbind of the tests' numbered non-guest traps.
const seqOID = ".1.3.6.1.4.1.99999.1.1"

// numbered sends a non-guest trap carrying n, forwarded by trapd as text.
func (s *trapSender) numbered(t testing.TB, n int) {
	t.Helper()
	if _, err := s.g.SendTrap(gosnmp.SnmpTrap{Variables: numberedVars(n)}); err != nil {
		t.Fatal(err)
	}
}

func numberedVars(n int) []gosnmp.SnmpPDU {
	return []gosnmp.SnmpPDU{
		{Name: libvirtmib.SysUpTime, Type: gosnmp.TimeTicks, Value: uint32(1)},
		{Name: libvirtmib.SnmpTrapOID, Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.99999.0.1"},
		{Name: seqOID, Type: gosnmp.Integer, Value: n},
	}
}

// seqOf extracts n from a forwarded numbered trap's text, whatever its source format:
// trapd's own rendering (listen) or snmptrapd's log record (follow).
func seqOf(text string) (int, bool) {
	for _, marker := range []string{seqOID + "=INTEGER:", seqOID + " = INTEGER: "} {
		if i := strings.Index(text, marker); i >= 0 {
			rest := text[i+len(marker):]
			j := 0
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			n, err := strconv.Atoi(rest[:j])
			return n, err == nil
		}
	}
	return 0, false
}

// seqs returns the numbers of forwarded numbered traps, in order.
func seqs(vs []string) []int {
	var out []int
	for _, v := range vs {
		if n, ok := seqOf(v); ok {
			out = append(out, n)
		}
	}
	return out
}

// checkSequence checks that got holds 0..n-1, each first seen in order; it returns
// how many values came twice (a reply lost after Zabbix stored a batch makes trapd
// spool it again: at-least-once, never lost).
func checkSequence(t testing.TB, what string, got []int, n int) (dups int) {
	t.Helper()
	seen := map[int]bool{}
	next := 0
	for _, x := range got {
		if seen[x] {
			dups++
			continue
		}
		seen[x] = true
		if x != next {
			t.Errorf("%s: %d arrived where %d was due (order broken or a value lost)", what, x, next)
			return dups
		}
		next++
	}
	if next != n {
		t.Errorf("%s: %d of %d values arrived", what, next, n)
	}
	return dups
}
