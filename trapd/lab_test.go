package main

// Lab tests: real net-snmp senders, the lab's libvirt-backed trap source, real
// snmptrapd, trapd in both modes, the lab's Zabbix. Under CI=true a missing lab fails.

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/lab/labzabbix"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/trapd"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Synthetic guests of the tests (no libvirt domain behind them).
const (
	uuidT1 = "7a11ce00-0000-4000-8000-000000000001"
	uuidT2 = "7a11ce00-0000-4000-8000-000000000002"
	uuidT3 = "7a11ce00-0000-4000-8000-000000000003"
)

func labCommunity(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(lab.Need(t, "SNMP_COMMUNITY_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// snmptrap runs net-snmp's snmptrap with a libvirtGuestNotif; args come before the
// target (version and security).
func snmptrap(t testing.TB, target string, args []string, name, uuid string, state libvirtmib.GuestState) error {
	t.Helper()
	hexUUID := strings.ReplaceAll(uuid, "-", "")
	cmd := append([]string{"--noPersistentLoad=yes", "--noPersistentSave=yes", "-m", "", "-r", "0", "-t", "2"}, args...)
	cmd = append(cmd, target, "", libvirtmib.GuestNotif,
		libvirtmib.NotifName, "s", name, libvirtmib.NotifUUID, "x", hexUUID,
		libvirtmib.NotifState, "i", strconv.Itoa(int(state)), libvirtmib.NotifRowStatus, "i", strconv.Itoa(int(state.RowStatus())))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "snmptrap", cmd...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("snmptrap %s: %v: %s", strings.Join(cmd, " "), err, out)
	}
	return nil
}

func v3args(u v3user, engine string) []string {
	auth := map[string]string{"SHA": "SHA", "SHA256": "SHA-256"}[u.auth]
	return []string{"-v", "3", "-u", u.name, "-l", "authPriv", "-a", auth, "-A", u.authPass, "-x", u.priv, "-X", u.privPass, "-e", engine}
}

// TestListenToZabbix: net-snmp's snmptrap (v2c, and v3 authPriv as two users) into
// trapd's listener into the lab's Zabbix; a wrong community, an unknown user, a wrong
// passphrase, hostile datagrams and guest traps with a mistyped or missing varbind are
// refused and counted, and do not stall the valid traps sent after them. The counters
// and trapd's build (vcr.trapd.version) reach Zabbix.
func TestListenToZabbix(t *testing.T) {
	if _, err := exec.LookPath("snmptrap"); err != nil {
		lab.Missing(t, "snmp (snmptrap)", err)
	}
	api := labzabbix.API(t)
	host := testHost(t, api, hostItems(uuidT1, uuidT2, uuidT3))
	inv := writeInventory(t, host, freeUDP(t), lab.Need(t, "ZABBIX_TRAPPER"), "", nil)
	const build = "v9.9.9 revision 0123abcd test-build"
	r := startTrapd(t, inv, trapd.ModeListen, func(o *trapd.Options) { o.Version = build })
	target := fmt.Sprintf("udp:127.0.0.1:%d", r.port())

	// v2c with the lab's community.
	if err := snmptrap(t, target, []string{"-v", "2c", "-c", labCommunity(t)}, "t1", uuidT1, libvirtmib.StateShutoff); err != nil {
		t.Fatal(err)
	}
	// Refused: wrong community, unknown user, wrong passphrase.
	if err := snmptrap(t, target, []string{"-v", "2c", "-c", "not-the-community"}, "t1", uuidT1, libvirtmib.StateCrashed); err != nil {
		t.Fatal(err)
	}
	mallory := userAlice
	mallory.name = "trapd-mallory"
	if err := snmptrap(t, target, v3args(mallory, "0x80001f8880aabbccdd01"), "t1", uuidT1, libvirtmib.StateCrashed); err != nil {
		t.Fatal(err)
	}
	wrongPass := userAlice
	wrongPass.authPass = "guessed-it-wrong"
	if err := snmptrap(t, target, v3args(wrongPass, "0x80001f8880aabbccdd02"), "t1", uuidT1, libvirtmib.StateCrashed); err != nil {
		t.Fatal(err)
	}
	// Hostile datagrams.
	raw, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", r.port()))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	junk := make([]byte, 512)
	rand.Read(junk)
	raw.Write(junk)
	raw.Write([]byte{0x30, 0x82, 0x01})                                     // truncated
	raw.Write([]byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01}) // 2 GiB length
	raw.Write(make([]byte, 9000))                                           // oversize
	// Guest traps with a mistyped and a missing varbind.
	for _, vbs := range [][]string{
		{libvirtmib.NotifName, "s", "t1", libvirtmib.NotifUUID, "x", strings.ReplaceAll(uuidT1, "-", ""), libvirtmib.NotifState, "s", "5", libvirtmib.NotifRowStatus, "i", "2"},
		{libvirtmib.NotifName, "s", "t1", libvirtmib.NotifUUID, "x", strings.ReplaceAll(uuidT1, "-", ""), libvirtmib.NotifState, "i", "5"},
	} {
		args := append([]string{"--noPersistentLoad=yes", "--noPersistentSave=yes", "-m", "", "-v", "2c", "-c", labCommunity(t), target, "", libvirtmib.GuestNotif}, vbs...)
		if out, err := exec.Command("snmptrap", args...).CombinedOutput(); err != nil {
			t.Fatalf("snmptrap: %v: %s", err, out)
		}
	}
	// v3 authPriv, two users.
	if err := snmptrap(t, target, v3args(userAlice, "0x80001f8880aabbccdd03"), "t2", uuidT2, libvirtmib.StatePaused); err != nil {
		t.Fatal(err)
	}
	if err := snmptrap(t, target, v3args(userBob, "0x80001f8880aabbccdd04"), "t3", uuidT3, libvirtmib.StateCrashed); err != nil {
		t.Fatal(err)
	}

	waitHistory(t, api, host, zabbix.KeyGuestState(uuidT1), typeUnsigned, 20*time.Second, func(v []string) bool { return len(v) == 1 && v[0] == "5" })
	waitHistory(t, api, host, zabbix.KeyGuestStateText(uuidT1), typeChar, 20*time.Second, func(v []string) bool { return len(v) == 1 && v[0] == "shutoff" })
	waitHistory(t, api, host, zabbix.KeyGuestState(uuidT2), typeUnsigned, 20*time.Second, func(v []string) bool { return len(v) == 1 && v[0] == "3" })
	waitHistory(t, api, host, zabbix.KeyGuestStateText(uuidT3), typeChar, 20*time.Second, func(v []string) bool { return len(v) == 1 && v[0] == "crashed" })
	// A discovery value was sent for each new guest, each time the full set.
	disc := waitHistory(t, api, host, zabbix.KeyGuestDiscovery, typeText, 20*time.Second, func(v []string) bool { return len(v) == 3 })
	for _, u := range []string{uuidT1, uuidT2, uuidT3, lab.Need(t, "DOMAIN_WEB1_UUID"), lab.Need(t, "DOMAIN_WEB2_UUID")} {
		if !strings.Contains(disc[2], `"`+u+`"`) {
			t.Errorf("last discovery value lacks %s: %s", u, disc[2])
		}
	}
	want := map[string]uint64{"received": 12, "decoded": 3, "rejected": 3, "rejected_community": 1, "rejected_user": 1,
		"rejected_auth": 1, "malformed": 6, "oversize": 1, "panics": 0, "dropped": 0}
	for k, v := range want {
		if got := r.counter(k); got != v {
			t.Errorf("counter %s = %d, want %d", k, got, v)
		}
	}
	// The counters reach Zabbix too (every second here).
	waitHistory(t, api, host, zabbix.KeyTrapd("rejected"), typeUnsigned, 20*time.Second, func(v []string) bool {
		return len(v) > 0 && v[len(v)-1] == "3"
	})
	// With them, the build that runs.
	waitHistory(t, api, host, zabbix.KeyTrapdVersion, typeChar, 20*time.Second, func(v []string) bool {
		return len(v) > 0 && v[len(v)-1] == build
	})
	if t.Failed() {
		return
	}
	t.Logf("counters: %v", r.s.Counters().All())
}

// informTrapd runs trapd in listen mode for the inform tests, on a host of its own.
func informTrapd(t *testing.T) (*zabbix.API, string, *config.Inventory, *running) {
	t.Helper()
	if _, err := exec.LookPath("snmpinform"); err != nil {
		lab.Missing(t, "snmp (snmpinform)", err)
	}
	api := labzabbix.API(t)
	host := testHost(t, api, hostItems(uuidT1))
	inv := writeInventory(t, host, freeUDP(t), lab.Need(t, "ZABBIX_TRAPPER"), "", nil)
	return api, host, inv, startTrapd(t, inv, trapd.ModeListen, nil)
}

// TestListenInform: an SNMPv2c InformRequest from snmpinform is answered (after the
// values reached Zabbix), so snmpinform exits 0.
func TestListenInform(t *testing.T) {
	api, host, _, r := informTrapd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "snmpinform", "--noPersistentLoad=yes", "--noPersistentSave=yes", "-m", "", "-r", "0", "-t", "5",
		"-v", "2c", "-c", labCommunity(t), fmt.Sprintf("udp:127.0.0.1:%d", r.port()), "", libvirtmib.GuestNotif,
		libvirtmib.NotifName, "s", "t1", libvirtmib.NotifUUID, "x", strings.ReplaceAll(uuidT1, "-", ""),
		libvirtmib.NotifState, "i", "6", libvirtmib.NotifRowStatus, "i", "2").CombinedOutput()
	if err != nil {
		t.Fatalf("snmpinform: %v: %s", err, out)
	}
	waitHistory(t, api, host, zabbix.KeyGuestState(uuidT1), typeUnsigned, 20*time.Second, func(v []string) bool { return len(v) == 1 && v[0] == "6" })
	if r.counter("informs") != 1 {
		t.Errorf("informs = %d", r.counter("informs"))
	}
}

// TestListenInformV3: an SNMPv3 authPriv InformRequest from snmpinform, which first
// discovers trapd's engine ID, is answered (snmpinform exits 0) after the value reached
// Zabbix; one with a wrong passphrase is not answered and changes nothing. The engine's
// boots count grows with each start.
func TestListenInformV3(t *testing.T) {
	api, host, inv, r := informTrapd(t)
	if out, err := snmpinformV3(r, "wrong-auth-secret", "5"); err == nil {
		t.Fatalf("an inform with a wrong passphrase was answered: %s", out)
	}
	if out, err := snmpinformV3(r, userAlice.authPass, "6"); err != nil {
		t.Fatalf("snmpinform v3: %v: %s", err, out)
	}
	waitHistory(t, api, host, zabbix.KeyGuestState(uuidT1), typeUnsigned, 20*time.Second, func(v []string) bool { return len(v) == 1 && v[0] == "6" })
	if r.counter("informs") != 1 || r.counter("rejected_auth") != 1 {
		t.Errorf("informs = %d, rejected_auth = %d; want 1 and 1", r.counter("informs"), r.counter("rejected_auth"))
	}
	b, err := os.ReadFile(filepath.Join(inv.StateDir, "trapd", "engine-boots"))
	if err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Errorf("engine boots after the first start: %q %v", b, err)
	}
}

// snmpinformV3 runs net-snmp's snmpinform: an authPriv InformRequest from userAlice
// with authPass, a libvirtGuestNotif of uuidT1 in state; args come before the target.
func snmpinformV3(r *running, authPass, state string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := append([]string{"--noPersistentLoad=yes", "--noPersistentSave=yes", "-m", "", "-r", "0", "-t", "3",
		"-v", "3", "-u", userAlice.name, "-l", "authPriv", "-a", userAlice.auth, "-A", authPass, "-x", userAlice.priv, "-X", userAlice.privPass}, args...)
	cmd = append(cmd, fmt.Sprintf("udp:127.0.0.1:%d", r.port()), "", libvirtmib.GuestNotif,
		libvirtmib.NotifName, "s", "t1", libvirtmib.NotifUUID, "x", strings.ReplaceAll(uuidT1, "-", ""),
		libvirtmib.NotifState, "i", state, libvirtmib.NotifRowStatus, "i", "2")
	return exec.CommandContext(ctx, "snmpinform", cmd...).CombinedOutput()
}

// TestListenInformV3TimeWindow: snmpinform with a stale clock of trapd's engine gets
// a notInTimeWindow Report, resynchronises from it, sends the inform again and exits 0
// once the value reached Zabbix: with -Z the engine boots of trapd's previous start (a
// sender that synchronised before trapd restarted), with -e trapd's engine ID and no
// clock at all (boots and time 0, RFC 3414 section 4's time synchronisation). With a
// wrong passphrase there is no Report and no answer.
func TestListenInformV3TimeWindow(t *testing.T) {
	api, host, _, r := informTrapd(t)
	m := regexp.MustCompile(`SNMPv3 engine for informs" engine_id=([0-9a-f]+) boots=([0-9]+)`).FindStringSubmatch(r.log.String())
	if m == nil {
		t.Fatalf("no engine in trapd's log:\n%s", r.log.String())
	}
	boots, _ := strconv.Atoi(m[2])
	stale := fmt.Sprintf("%d,100", boots-1)
	if out, err := snmpinformV3(r, "wrong-auth-secret", "5", "-Z", stale); err == nil {
		t.Fatalf("an inform with a wrong passphrase was answered: %s", out)
	}
	if out, err := snmpinformV3(r, userAlice.authPass, "6", "-Z", stale); err != nil {
		t.Fatalf("snmpinform -Z %s: %v: %s", stale, err, out)
	}
	waitHistory(t, api, host, zabbix.KeyGuestState(uuidT1), typeUnsigned, 20*time.Second, func(v []string) bool { return len(v) == 1 && v[0] == "6" })
	if out, err := snmpinformV3(r, userAlice.authPass, "5", "-e", "0x"+m[1]); err != nil {
		t.Fatalf("snmpinform -e %s: %v: %s", m[1], err, out)
	}
	waitHistory(t, api, host, zabbix.KeyGuestState(uuidT1), typeUnsigned, 20*time.Second, func(v []string) bool { return len(v) == 2 && v[1] == "5" })
	got := map[string]uint64{}
	for _, name := range []string{"not_in_time_window", "informs", "rejected_auth"} {
		got[name] = r.counter(name)
	}
	if want := map[string]uint64{"not_in_time_window": 2, "informs": 2, "rejected_auth": 1}; !maps.Equal(got, want) {
		t.Errorf("counters %v, want %v", got, want)
	}
}

// virsh runs virsh against the lab's libvirtd.
func virsh(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	uri := os.Getenv("VCR_LAB_LIBVIRT_URI")
	out, err := exec.CommandContext(ctx, "virsh", append([]string{"-q", "-c", uri}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// web2 returns the lab domain web2's UUID and HTTP address, with web2 running now and
// again when the test ends.
func web2(t *testing.T) (uuid, addr string) {
	t.Helper()
	lab.Need(t, "LIBVIRT_URI")
	uuid = lab.Need(t, "DOMAIN_WEB2_UUID")
	addr = net.JoinHostPort(lab.Need(t, "DOMAIN_WEB2_IP"), lab.Need(t, "SERVICE_PORT"))
	if out, err := virsh("version"); err != nil {
		lab.Missing(t, "libvirtd", fmt.Errorf("virsh version: %v: %s", err, out))
	}
	ensure := func() error {
		if st, _ := virsh("domstate", "web2"); st != "running" {
			if out, err := virsh("start", "web2"); err != nil && !strings.Contains(out, "already active") {
				return fmt.Errorf("virsh start web2: %v: %s", err, out)
			}
		}
		return lab.WaitHTTP(addr, 30*time.Second)
	}
	if err := ensure(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ensure(); err != nil {
			t.Errorf("restore web2: %v", err)
		}
	})
	return uuid, addr
}

// recoverScript creates the scope-2 global script the fast path runs for service, with
// a command that appends its arguments and the time to file; deleted when the test ends.
func recoverScript(t *testing.T, api *zabbix.API, service, file string) {
	t.Helper()
	var res struct {
		ScriptIDs []string `json:"scriptids"`
	}
	cmd := fmt.Sprintf(`echo "recover --service %s $(date +%%s.%%N)" >> %s`, service, file)
	err := api.Call(context.Background(), "script.create", map[string]any{
		"name": zabbix.FastPathScript(config.DefaultZabbixPrefix, service), "command": cmd, "type": 0, "scope": 2, "execute_on": 0, "groupid": "0",
	}, &res)
	if err != nil {
		t.Fatalf("script.create: %v", err)
	}
	t.Cleanup(func() { api.Call(context.Background(), "script.delete", res.ScriptIDs, nil) })
}

// TestBothModesLibvirt: the lab's libvirt-backed trap source. virsh destroy web2 makes
// the lab's agent send a real libvirtGuestNotif to the lab's snmptrapd (which logs it)
// and to the trap sink. One trapd listens on the sink, another follows snmptrapd's
// log; each sends to its own Zabbix test host. Both show shutoff, then running after
// virsh start. The listening one has the fast path for web2 (as service "svcName"):
// script.execute runs the recover script on the standby's agent at once.
func TestBothModesLibvirt(t *testing.T) {
	uuid, addr := web2(t)
	api := labzabbix.API(t)
	hostL := testHost(t, api, hostItems(uuid, lab.Need(t, "DOMAIN_WEB1_UUID")))
	hostF := testHost(t, api, hostItems(uuid, lab.Need(t, "DOMAIN_WEB1_UUID")))
	svcName := uniq("trapdtest")
	marks := filepath.Join(t.TempDir(), "recover.log")
	recoverScript(t, api, svcName, marks)

	invL := writeInventory(t, hostL, lab.Need(t, "TRAP_SINK"), lab.Need(t, "ZABBIX_TRAPPER"), "", func(m map[string]any) {
		// Zabbix 6.0's script.execute needs a user session, not an API token.
		z := m["zabbix"].(map[string]any)
		delete(z, "api_token_file")
		z["username"], z["password_file"] = lab.Need(t, "ZABBIX_USER"), lab.Need(t, "ZABBIX_PASSWORD_FILE")
		for _, s := range m["services"].([]any) {
			svc := s.(map[string]any)
			if svc["vm_uuid"] == uuid {
				svc["name"], svc["fast_path"] = svcName, true
			}
		}
	})
	invF := writeInventory(t, hostF, freeUDP(t), lab.Need(t, "ZABBIX_TRAPPER"), lab.Need(t, "SNMPTRAPD_LOG"), nil)
	rl := startTrapd(t, invL, trapd.ModeListen, nil)
	rf := startTrapd(t, invF, trapd.ModeFollow, nil)

	destroyed := time.Now()
	if out, err := virsh("destroy", "web2"); err != nil {
		t.Fatalf("virsh destroy web2: %v: %s", err, out)
	}
	for _, h := range []string{hostL, hostF} {
		waitHistory(t, api, h, zabbix.KeyGuestState(uuid), typeUnsigned, 20*time.Second, func(v []string) bool { return len(v) > 0 && v[len(v)-1] == "5" })
		waitHistory(t, api, h, zabbix.KeyGuestStateText(uuid), typeChar, 20*time.Second, func(v []string) bool { return len(v) > 0 && v[len(v)-1] == "shutoff" })
	}
	t.Logf("shutoff visible in Zabbix (history.get) from both trapd %.2f s after virsh destroy", time.Since(destroyed).Seconds())

	// The fast path ran the recover script on the standby host.
	deadline := time.Now().Add(15 * time.Second)
	var mark string
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(marks)
		if mark = strings.TrimSpace(string(b)); mark != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(mark, "recover --service "+svcName+" ") {
		t.Fatalf("fast path: recover script output %q, want a line for %s", mark, svcName)
	}
	if f := strings.Fields(mark); len(f) == 4 {
		if at, err := strconv.ParseFloat(f[3], 64); err == nil {
			t.Logf("fast path: recover script ran on the standby's agent %.3f s after virsh destroy", at-float64(destroyed.UnixNano())/1e9)
		}
	}
	if rl.counter("fast_path") != 1 || rl.counter("fast_path_failed") != 0 {
		t.Errorf("fast path counters: %d runs, %d failed", rl.counter("fast_path"), rl.counter("fast_path_failed"))
	}
	if rf.counter("fast_path") != 0 {
		t.Errorf("the follow-mode trapd (no fast path in its inventory) ran it")
	}

	if out, err := virsh("start", "web2"); err != nil {
		t.Fatalf("virsh start web2: %v: %s", err, out)
	}
	for _, h := range []string{hostL, hostF} {
		waitHistory(t, api, h, zabbix.KeyGuestState(uuid), typeUnsigned, 20*time.Second, func(v []string) bool { return len(v) > 0 && v[len(v)-1] == "1" })
	}
	if err := lab.WaitHTTP(addr, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*running{rl, rf} {
		if r.counter("dropped") != 0 || r.counter("malformed") != 0 {
			t.Errorf("counters %v", r.s.Counters().All())
		}
	}
}

// rawSeqs returns the numbers of the forwarded numbered traps that Zabbix stored.
func rawSeqs(t testing.TB, api *zabbix.API, host string) map[int]int {
	t.Helper()
	out := map[int]int{}
	for _, n := range seqs(labzabbix.Values(labzabbix.History(t, api, host, rawKey, typeText))) {
		out[n]++
	}
	return out
}

// waitStored waits until Zabbix stored every numbered trap 0..n-1 on host.
func waitStored(t testing.TB, api *zabbix.API, host string, n int, timeout time.Duration) map[int]int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := rawSeqs(t, api, host)
		missing := 0
		for i := 0; i < n; i++ {
			if got[i] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("Zabbix stored %d of %d numbered traps", n-missing, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestOutageMidBurst: the trapper becomes unreachable in the middle of a burst and
// comes back before it ends. trapd spools, replays in order, and nothing is lost:
// every trap reaches Zabbix, in the order sent. Nothing arrives twice either: a batch
// whose reply is lost as the connection is cut is checked against Zabbix's history
// (the inventory has the API) before anything of it is sent again.
func TestOutageMidBurst(t *testing.T) {
	api := labzabbix.API(t)
	host := testHost(t, api, hostItems(uuidT1, uuidT2, uuidT3))
	px := lab.StartProxy(t, lab.Need(t, "ZABBIX_TRAPPER"))
	inv := writeInventory(t, host, freeUDP(t), px.Addr, "", nil)
	r := startTrapd(t, inv, trapd.ModeListen, func(o *trapd.Options) { o.StatsInterval = 0 })
	s := newTrapSender(t, fmt.Sprintf("127.0.0.1:%d", r.port()), "trapd-test")

	const n = 3000
	uuids := []string{uuidT1, uuidT2, uuidT3}
	lastState := map[string]libvirtmib.GuestState{}
	start := time.Now()
	for i := 0; i < n; i++ {
		switch i {
		case 1000:
			px.Down()
			t.Logf("trapper unreachable after trap %d (%.2f s)", i, time.Since(start).Seconds())
		case 2200:
			px.Up(t)
			t.Logf("trapper back after trap %d (%.2f s)", i, time.Since(start).Seconds())
		}
		s.numbered(t, i)
		if i%10 == 0 {
			u := uuids[(i/10)%3]
			st := libvirtmib.StateRunning
			if (i/30)%2 == 1 {
				st = libvirtmib.StateShutoff
			}
			s.guest(t, "t", u, st)
			lastState[u] = st
		}
		// About 2,000 traps/s.
		if d := time.Duration(i+1)*time.Second/2000 - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
	stored := waitStored(t, api, host, n, 90*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for r.s.SpooledValues() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	order := seqs(px.ForwardedValues(host, rawKey))
	dups := checkSequence(t, "values through the trapper, in arrival order", order, n)
	twice := 0
	for _, c := range stored {
		if c > 1 {
			twice++
		}
	}
	for _, u := range uuids {
		want := strconv.Itoa(int(lastState[u]))
		waitHistory(t, api, host, zabbix.KeyGuestState(u), typeUnsigned, 20*time.Second, func(v []string) bool { return len(v) > 0 && v[len(v)-1] == want })
	}
	c := func(name string) uint64 { return r.counter(name) }
	t.Logf("%d traps: spooled %d values, replayed %d, sent live %d, dropped %d; %d values reached the trapper twice, %d stored twice",
		n+n/10, c("spooled"), c("replayed"), c("sent"), c("dropped"), dups, twice)
	if c("spooled") == 0 || c("replayed") == 0 {
		t.Errorf("the outage did not make trapd spool and replay")
	}
	if dups != 0 || twice != 0 {
		t.Errorf("%d values reached the trapper twice, %d stored twice; want none", dups, twice)
	}
	if c("dropped") != 0 || c("queue_full") != 0 || c("received") != n+n/10 {
		t.Errorf("counters %v", r.s.Counters().All())
	}
}

// TestRestartReplaysSpool: trapd stops with values in its spool (trapper unreachable);
// the next trapd replays them, in order, before its own.
func TestRestartReplaysSpool(t *testing.T) {
	api := labzabbix.API(t)
	host := testHost(t, api, hostItems())
	px := lab.StartProxy(t, lab.Need(t, "ZABBIX_TRAPPER"))
	px.Down()
	inv := writeInventory(t, host, freeUDP(t), px.Addr, "", nil)
	noStats := func(o *trapd.Options) { o.StatsInterval = 0 }

	a := startTrapd(t, inv, trapd.ModeListen, noStats)
	s := newTrapSender(t, fmt.Sprintf("127.0.0.1:%d", a.port()), "trapd-test")
	for i := 0; i < 500; i++ {
		s.numbered(t, i)
	}
	a.waitCounter(t, "spooled", 500, 30*time.Second)
	a.stop(t)
	if left := a.s.SpooledValues(); left != 500 {
		t.Fatalf("spool holds %d values after the first trapd stopped, want 500", left)
	}

	px.Up(t)
	b := startTrapd(t, inv, trapd.ModeListen, noStats)
	s = newTrapSender(t, fmt.Sprintf("127.0.0.1:%d", b.port()), "trapd-test")
	for i := 500; i < 600; i++ {
		s.numbered(t, i)
	}
	waitStored(t, api, host, 600, 60*time.Second)
	order := seqs(px.ForwardedValues(host, rawKey))
	if dups := checkSequence(t, "values through the trapper", order, 600); dups != 0 {
		t.Errorf("%d values sent twice", dups)
	}
	// Traps that came while the spool was replayed queued behind it: replayed too.
	if b.counter("replayed") < 500 || b.counter("replayed")+b.counter("sent") != 600 || b.counter("dropped") != 0 {
		t.Errorf("second trapd: %v", b.s.Counters().All())
	}
}

// snmptrapd runs a private snmptrapd (not the lab's) on addr, logging to log in
// snmptrapd's default format with numeric OIDs, as the lab's does. It returns the
// process, for SIGHUP.
func snmptrapd(t *testing.T, addr, log string, extra ...string) *os.Process {
	t.Helper()
	if _, err := exec.LookPath("snmptrapd"); err != nil {
		lab.Missing(t, "snmp (snmptrapd)", err)
	}
	// snmptrapd -c takes a comma-separated list: a test name with a comma in its
	// temporary folder would hide the configuration.
	dir, err := os.MkdirTemp("", "vcr-snmptrapd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "snmptrapd.conf"), []byte("[snmp] mibs :\ndisableAuthorization yes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-f", "-C", "-c", filepath.Join(dir, "snmptrapd.conf"), "-n", "-m", "", "-On", "-Lf", log}, extra...)
	cmd := exec.Command("snmptrapd", append(args, "udp:"+addr)...)
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+filepath.Join(dir, "persist"), "SNMPCONFPATH="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	// Ready once it has written its start line.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(log); err == nil && strings.Contains(string(b), "NET-SNMP version") {
			return cmd.Process
		}
		if time.Now().After(deadline) {
			t.Fatalf("snmptrapd on %s did not start", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFollowRestartRotateTruncate: follow mode on a real snmptrapd's log. A trapd
// restart resumes from the saved position (traps logged while it was down arrive, none
// twice); rotation by rename + SIGHUP and truncation lose nothing.
func TestFollowRestartRotateTruncate(t *testing.T) {
	api := labzabbix.API(t)
	host := testHost(t, api, hostItems())
	px := lab.StartProxy(t, lab.Need(t, "ZABBIX_TRAPPER"))
	log := filepath.Join(t.TempDir(), "snmptrapd.log")
	trapAddr := freeUDP(t)
	proc := snmptrapd(t, trapAddr, log)
	inv := writeInventory(t, host, freeUDP(t), px.Addr, log, nil)
	noStats := func(o *trapd.Options) { o.StatsInterval = 0 }
	s := newTrapSender(t, trapAddr, "any")
	send := func(from, to int) {
		for i := from; i < to; i++ {
			s.numbered(t, i)
		}
	}
	arrived := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for len(px.Forwarded(host, rawKey)) < n && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}

	a := startTrapd(t, inv, trapd.ModeFollow, noStats)
	send(0, 10)
	arrived(10)
	a.stop(t)
	send(10, 20) // logged while trapd is down
	time.Sleep(300 * time.Millisecond)
	b := startTrapd(t, inv, trapd.ModeFollow, noStats)
	send(20, 30)
	arrived(30)

	// Rotation: rename, snmptrapd keeps writing the renamed file until SIGHUP.
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	send(30, 35)
	time.Sleep(200 * time.Millisecond)
	if err := proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	send(35, 45)
	arrived(45)

	// Truncation (logrotate copytruncate).
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	send(45, 55)
	arrived(55)
	b.stop(t)

	c := startTrapd(t, inv, trapd.ModeFollow, noStats)
	send(55, 60)
	arrived(60)
	time.Sleep(500 * time.Millisecond) // nothing more may come
	order := seqs(px.ForwardedValues(host, rawKey))
	if dups := checkSequence(t, "traps from the log, through the trapper", order, 60); dups != 0 {
		t.Errorf("%d traps sent twice", dups)
	}
	waitStored(t, api, host, 60, 30*time.Second)
	if c.counter("malformed") != 0 {
		t.Errorf("counters of the last trapd: %v", c.s.Counters().All())
	}
}
