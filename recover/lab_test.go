package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/recovery"
)

// The end-to-end tests run the real vcr-recover binary against the lab: libvirt domains
// as primaries, the lab's SNMP agent and Zabbix for fencing, LXD for containers, BIND for
// the switch. Each test leaves the service on its primary.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vcr-recover-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "vcr-recover")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic(fmt.Sprintf("build: %v\n%s", err, out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type env struct {
	inv      *config.Inventory
	invPath  string
	dns      *dnsupdate.Client
	virshURI string
}

func labEnv(t *testing.T) *env {
	t.Helper()
	path := lab.Need(t, "INVENTORY")
	inv, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	key, err := dnsupdate.ReadKeyFile(inv.DNS.TSIGKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	// Each test gets its own state folder, so runs of one test never see another's state.
	inv.StateDir = t.TempDir()
	b, _ := os.ReadFile(path)
	invPath := filepath.Join(t.TempDir(), "vcrcovery.yaml")
	text := strings.Replace(string(b), "state_dir: ", "state_dir: "+inv.StateDir+" #", 1)
	if err := os.WriteFile(invPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return &env{inv: inv, invPath: invPath, virshURI: lab.Need(t, "LIBVIRT_URI"),
		dns: &dnsupdate.Client{Server: inv.DNS.Server.String(), Zone: inv.DNS.Zone, Key: key, TTL: 2}}
}

func (e *env) virsh(t *testing.T, args ...string) {
	t.Helper()
	lab.Run(t, 60*time.Second, "virsh", append([]string{"-c", e.virshURI}, args...)...)
}

func (e *env) lookup(t *testing.T, name string) []netip.Addr {
	t.Helper()
	got, err := e.dns.Lookup(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// destroy kills the primary VM and waits until the hypervisor's agent reports it
// (its table is cached for up to 5 s). Cleanup restores the primary and its DNS name.
func (e *env) destroy(t *testing.T, svc *config.Service) {
	t.Helper()
	e.virsh(t, "destroy", svc.Name)
	t.Cleanup(func() { e.restore(t, svc) })
	u := svc.VMUUID
	h, _ := e.inv.Hypervisor(svc.Hypervisor)
	lab.Until(t, "agent reports "+svc.Name+" down", 20*time.Second, func() error {
		a, err := hypervisor.Dial(context.Background(), h)
		if err != nil {
			return err
		}
		defer a.Close()
		st, err := a.GuestState(u)
		if err == nil && !st.Down() {
			err = fmt.Errorf("state %s", st)
		}
		return err
	})
}

// restore starts the primary again and points its name back at it.
func (e *env) restore(t *testing.T, svc *config.Service) {
	cmd := exec.Command("virsh", "-c", e.virshURI, "start", svc.Name)
	cmd.Run() // fails harmlessly when it already runs
	primary := svc.PrimaryAddress
	if got := e.lookup(t, svc.DNSName); len(got) == 1 && got[0] != primary {
		if err := e.dns.Switch(context.Background(), svc.DNSName, got[0], primary); err != nil {
			t.Errorf("restore %s: %v", svc.DNSName, err)
		}
	}
	lab.Until(t, svc.Name+" primary serves again", 30*time.Second, func() error {
		_, err := httpGet(svc.PrimaryAddress.String())
		return err
	})
}

func httpGet(ip string) (string, error) {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + ip + ":8080/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// recover runs the binary and decodes its -json report.
func (e *env) recover(t *testing.T, args ...string) (*recovery.Report, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"-config", e.invPath, "-json"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("vcr-recover %v: %v", args, err)
	}
	var rep recovery.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("vcr-recover %v: report: %v\nstdout: %s\nstderr: %s", args, err, out, stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != rep.ExitCode {
		t.Fatalf("exit code %d but report says %d", code, rep.ExitCode)
	}
	return &rep, stderr.String()
}

// checkServed: the name points at exactly one address, which serves the container's page.
func (e *env) checkServedByContainer(t *testing.T, svc *config.Service) netip.Addr {
	t.Helper()
	got := e.lookup(t, svc.DNSName)
	if len(got) != 1 || got[0] == svc.PrimaryAddress {
		t.Fatalf("%s -> %v, want the container's address", svc.DNSName, got)
	}
	body, err := httpGet(got[0].String())
	if err != nil || !strings.Contains(body, svc.Standby.Container) {
		t.Fatalf("%s at %s: %q %v, want the container's page", svc.DNSName, got[0], body, err)
	}
	return got[0]
}

func TestLabWarmRecoverAndFailback(t *testing.T) {
	e := labEnv(t)
	svc, _ := e.inv.Service("web1")
	if svc.Standby.Mode != config.ModeWarm {
		t.Fatalf("lab web1 is %s, want warm", svc.Standby.Mode)
	}

	// While the primary serves, fencing refuses and nothing changes.
	rep, _ := e.recover(t, "-service", svc.Name)
	if rep.ExitCode != 3 || rep.Result != recovery.ResultRefused {
		t.Fatalf("recover while the primary serves: %+v", rep)
	}
	if got := e.lookup(t, svc.DNSName); len(got) != 1 || got[0] != svc.PrimaryAddress {
		t.Fatalf("name changed to %v despite the refusal", got)
	}

	e.destroy(t, svc)
	rep, stderr := e.recover(t, "-service", svc.Name, "-event", "1001")
	if rep.ExitCode != 0 || rep.Result != recovery.ResultOK {
		t.Fatalf("warm recover: %+v\n%s", rep, stderr)
	}
	ip := e.checkServedByContainer(t, svc)
	if !strings.Contains(rep.ServedFrom, ip.String()) {
		t.Fatalf("served_from %q, want %s", rep.ServedFrom, ip)
	}
	t.Logf("warm recover: %.3f s, steps %+v", rep.Seconds, rep.Steps)

	// The same event again: a no-op that says so. A new run: already done.
	if rep, _ := e.recover(t, "-service", svc.Name, "-event", "1001"); rep.ExitCode != 0 || rep.Result != recovery.ResultAlreadyDone {
		t.Fatalf("repeated event: %+v", rep)
	}
	if rep, _ := e.recover(t, "-service", svc.Name); rep.ExitCode != 0 || rep.Result != recovery.ResultAlreadyDone {
		t.Fatalf("second run: %+v", rep)
	}

	// Failback is refused until the primary serves, then returns the name.
	if rep, _ := e.recover(t, "-service", svc.Name, "-failback"); rep.ExitCode != 3 {
		t.Fatalf("failback while the primary is down: %+v", rep)
	}
	e.virsh(t, "start", svc.Name)
	lab.Until(t, "primary serves", 30*time.Second, func() error { _, err := httpGet(svc.PrimaryAddress.String()); return err })
	rep, stderr = e.recover(t, "-service", svc.Name, "-failback")
	if rep.ExitCode != 0 || rep.Result != recovery.ResultOK {
		t.Fatalf("failback: %+v\n%s", rep, stderr)
	}
	if got := e.lookup(t, svc.DNSName); len(got) != 1 || got[0] != svc.PrimaryAddress {
		t.Fatalf("after failback %s -> %v", svc.DNSName, got)
	}
	// Warm: the container keeps running.
	if _, err := httpGet(ip.String()); err != nil {
		t.Fatalf("warm container stopped after failback: %v", err)
	}
}

func lxc(t *testing.T, args ...string) (string, error) {
	cmd := exec.Command("lxc", args...)
	cmd.Env = append(os.Environ(), "LXD_DIR="+lab.Need(t, "LXD_STANDBY_DIR"), "LXD_CONF="+lab.Need(t, "LXD_CONF"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestLabColdRecoverAndFailback(t *testing.T) {
	e := labEnv(t)
	svc, _ := e.inv.Service("web2")
	if svc.Standby.Mode != config.ModeCold {
		t.Fatalf("lab web2 is %s, want cold", svc.Standby.Mode)
	}
	lxc(t, "delete", "--force", svc.Standby.Container) // start from nothing
	t.Cleanup(func() { lxc(t, "delete", "--force", svc.Standby.Container) })

	e.destroy(t, svc)
	rep, stderr := e.recover(t, "-service", svc.Name)
	if rep.ExitCode != 0 || rep.Result != recovery.ResultOK {
		t.Fatalf("cold recover: %+v\n%s", rep, stderr)
	}
	created := false
	for _, s := range rep.Steps {
		created = created || (s.Name == "container" && strings.Contains(s.Detail, "created"))
	}
	if !created {
		t.Fatalf("cold recover did not create the container: %+v", rep.Steps)
	}
	e.checkServedByContainer(t, svc)
	t.Logf("cold recover: %.3f s, steps %+v", rep.Seconds, rep.Steps)

	e.virsh(t, "start", svc.Name)
	lab.Until(t, "primary serves", 30*time.Second, func() error { _, err := httpGet(svc.PrimaryAddress.String()); return err })
	if rep, stderr := e.recover(t, "-service", svc.Name, "-failback"); rep.ExitCode != 0 {
		t.Fatalf("failback: %+v\n%s", rep, stderr)
	}
	// Cold: the container is stopped again.
	out, _ := lxc(t, "info", svc.Standby.Container)
	if !strings.Contains(out, "Status: STOPPED") {
		t.Fatalf("cold container after failback:\n%s", out)
	}
}

// TestLabConcurrentRuns: 8 runs at once for one service: one switch, one container
// start; the others exit 0 (already done) or 7, and say why.
func TestLabConcurrentRuns(t *testing.T) {
	e := labEnv(t)
	svc, _ := e.inv.Service("web1")
	e.destroy(t, svc)
	// The warm container is stopped so that "one container start" is observable.
	lxc(t, "stop", "--force", svc.Standby.Container)
	t.Cleanup(func() { lxc(t, "start", svc.Standby.Container) })

	reps := make([]*recovery.Report, 8)
	var wg sync.WaitGroup
	for i := range reps {
		wg.Add(1)
		go func() { defer wg.Done(); reps[i], _ = e.recover(t, "-service", svc.Name) }()
	}
	wg.Wait()
	ok, starts := 0, 0
	for i, rep := range reps {
		switch {
		case rep.Result == recovery.ResultOK:
			ok++
		case rep.ExitCode == 0 && rep.Result == recovery.ResultAlreadyDone, rep.ExitCode == 7:
			if rep.Message == "" {
				t.Errorf("run %d: no reason given", i)
			}
		default:
			t.Errorf("run %d: %+v", i, rep)
		}
		for _, s := range rep.Steps {
			if s.Name == "container" && strings.HasPrefix(s.Detail, "started") {
				starts++
			}
		}
	}
	if ok != 1 || starts != 1 {
		t.Fatalf("%d runs switched and %d started the container, want 1 and 1", ok, starts)
	}
	e.checkServedByContainer(t, svc)
}

// TestLabDNSFailure: DNS refuses the update (wrong key) -> exit 6; the container runs,
// the name is untouched, and a run with the right key completes.
func TestLabDNSFailure(t *testing.T) {
	e := labEnv(t)
	svc, _ := e.inv.Service("web1")
	e.destroy(t, svc)
	// The key that signs web1's name: its own in the lab inventory, else the shared one.
	keyFile, keyName := e.inv.DNS.TSIGKeyFile, "ddns-key"
	if svc.TSIGKeyFile != "" {
		keyFile, keyName = svc.TSIGKeyFile, strings.TrimSuffix(svc.TSIGKey.Name, ".")
	}
	badKey := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(badKey, []byte("key \""+keyName+"\" { algorithm hmac-sha256; secret \"d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==\"; };\n"), 0o600)
	b, _ := os.ReadFile(e.invPath)
	text := strings.Replace(string(b), "tsig_key_file: "+keyFile+"\n", "tsig_key_file: "+badKey+"\n", 1)
	e.refusedThenRetry(t, svc, text)
}

// refusedThenRetry runs recover for svc with the inventory text bad: DNS must refuse
// the switch (exit 6, a report holding each of want) and leave the name on the primary;
// then a run with the lab's inventory must complete, served by the container.
func (e *env) refusedThenRetry(t *testing.T, svc *config.Service, bad string, want ...string) {
	t.Helper()
	good := e.invPath
	e.invPath = filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(e.invPath, []byte(bad), 0o600)
	rep, stderr := e.recover(t, "-service", svc.Name)
	ok := rep.ExitCode == 6 && rep.Result == recovery.ResultDNS
	for _, w := range want {
		ok = ok && strings.Contains(rep.Message, w)
	}
	if !ok {
		t.Fatalf("with a refused key: %+v, want exit 6 saying %q\n%s", rep, want, stderr)
	}
	if got := e.lookup(t, svc.DNSName); len(got) != 1 || got[0] != svc.PrimaryAddress {
		t.Fatalf("name changed to %v", got)
	}
	e.invPath = good
	if rep, stderr := e.recover(t, "-service", svc.Name); rep.ExitCode != 0 {
		t.Fatalf("retry with the lab's keys: %+v\n%s", rep, stderr)
	}
	e.checkServedByContainer(t, svc)
}

// TestLabServiceKeyRefused: the lab's BIND lets each service's own key write that
// service's name only. web2's entry given web1's key: the cold container comes up, but
// the switch is refused (exit 6, the report names the refusal and the key) and web2's
// name is unchanged; the same run with the lab inventory (web2 signed with the shared
// key) completes.
func TestLabServiceKeyRefused(t *testing.T) {
	e := labEnv(t)
	svc, _ := e.inv.Service("web2")
	web1Key := lab.Need(t, "TSIG_KEY_FILE_WEB1")
	if svc.TSIGKeyFile != "" {
		t.Fatalf("lab web2 has its own key %s, want the shared one", svc.TSIGKeyFile)
	}
	lxc(t, "delete", "--force", svc.Standby.Container)
	t.Cleanup(func() { lxc(t, "delete", "--force", svc.Standby.Container) })
	e.destroy(t, svc)
	b, _ := os.ReadFile(e.invPath)
	text := strings.Replace(string(b), "  - name: web2\n", "  - name: web2\n    tsig_key_file: "+web1Key+"\n", 1)
	if text == string(b) {
		t.Fatal("no web2 entry in the lab inventory")
	}
	e.refusedThenRetry(t, svc, text, "REFUSED", "signed with key web1-key.")
}

// TestLabNoZabbixSessionLeft: a run that logs in as a user logs out again; otherwise
// every recovery would leave a session in Zabbix's sessions table.
func TestLabNoZabbixSessionLeft(t *testing.T) {
	e := labEnv(t)
	if e.inv.Zabbix.Username == "" {
		t.Fatal("the lab inventory should log in as a user for this test")
	}
	pg := lab.Need(t, "PG")
	active := func() string {
		return strings.TrimSpace(lab.Run(t, 30*time.Second, "psql", pg, "-Atc", "select count(*) from sessions where status=0"))
	}
	before := active()
	for i := 0; i < 3; i++ {
		e.recover(t, "-service", "web1") // refused: the primary serves; it logs in all the same
	}
	if after := active(); after != before {
		t.Fatalf("active Zabbix sessions %s before 3 runs, %s after", before, after)
	}
}
