package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/lock"
)

// TestLabExitCodes provokes every exit code of vcr-recover by its real cause on the
// lab, and holds the codes proven against --help and the README's table. No case
// changes the lab: the primary web1 keeps serving and its name keeps pointing at it
// (the cases that pass -force fail before the DNS step). TestExitCodesWithoutLab has
// the causes that need no lab (an unreadable TSIG key, an LXD server that refuses the
// connection).
func TestLabExitCodes(t *testing.T) {
	e := labEnv(t)
	web1 := []string{"-service", "web1"}
	held := filepath.Join(e.inv.StateDir, "locks", "web1.lock")
	holdLock := func(t *testing.T) {
		l, err := lock.Acquire(context.Background(), held)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Unlock() })
	}
	tests := []struct {
		name  string
		mod   func(t *testing.T, m map[string]any) // changes the inventory
		args  []string
		setup func(t *testing.T)
		want  int
		say   string // in stdout or stderr
	}{
		{"dry run", nil, append(web1, "-dry-run"), nil, cli.ExitOK, "would:"},
		{"zabbix API unreachable: not a failure", func(t *testing.T, m map[string]any) {
			m["zabbix"].(map[string]any)["api_url"] = "http://127.0.0.1:9/api_jsonrpc.php"
		}, append(web1, "-dry-run"), nil, cli.ExitOK, "zabbix API unavailable"},
		{"state_dir under a file", func(t *testing.T, m map[string]any) {
			m["state_dir"] = lab.UnderFile(t, "state")
		}, web1, nil, cli.ExitRuntime, "state_dir/locks unusable"},
		{"state_dir read-only", func(t *testing.T, m map[string]any) {
			m["state_dir"] = lab.ReadOnlyDir(t)
		}, web1, nil, cli.ExitRuntime, "read-only file system"},
		{"no -service", nil, nil, nil, cli.ExitUsage, "-service is required"},
		{"primary still serves", nil, web1, nil, cli.ExitRefused, "the primary still serves"},
		{"LXD server refuses the client certificate", func(t *testing.T, m map[string]any) {
			cert, key := untrustedCert(t)
			sb := standbyOnBig(m)
			sb["client_cert_file"], sb["client_key_file"] = cert, key
			// A container no other server holds: recover looks for a migrated one
			// on every standby (container.Find) and would find web1 on standby.
			m["services"].([]any)[0].(map[string]any)["standby"].(map[string]any)["container"] = "vcr-exit-test-none"
		}, web1, nil, cli.ExitContainer, "does not trust the client certificate"},
		{"probe timeout", func(t *testing.T, m map[string]any) {
			p := m["services"].([]any)[0].(map[string]any)["probe"].(map[string]any)
			p["ports"], p["timeout"] = []int{9}, "1s"
		}, append(web1, "-force"), nil, cli.ExitProbe, "probe"},
		{"DNS server unreachable", func(t *testing.T, m map[string]any) {
			m["dns"].(map[string]any)["server"] = "127.0.0.1:9"
		}, web1, nil, cli.ExitDNS, "127.0.0.1:9"},
		{"a sync fails", func(t *testing.T, m map[string]any) {
			m["services"].([]any)[0].(map[string]any)["sync"] = map[string]any{"command": []string{"false"}}
		}, []string{"-sync", "-service", "web1"}, nil, cli.ExitData, "sync web1: failed"},
		{"another run holds the lock", nil, append(web1, "-lock-wait", "200ms"), holdLock, cli.ExitLostRace, "already in progress"},
		{"a drill while another run holds the lock", nil, []string{"-test", "-service", "web1"}, holdLock, cli.ExitRefused, "no drill while it runs"},
		{"a drill of a cold standby whose probe port is silent", func(t *testing.T, m map[string]any) {
			p := m["services"].([]any)[1].(map[string]any)["probe"].(map[string]any)
			p["ports"], p["timeout"] = []int{9}, "1s"
		}, []string{"-test", "-service", "web2"}, nil, cli.ExitProbe, "not ready: step probe"},
		{"-test without a service or standby", nil, []string{"-test"}, nil, cli.ExitUsage, "exactly one of -service and -standby"},
	}
	proven := map[int]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := e.invPath
			if tt.mod != nil {
				path = e.variant(t, tt.mod)
			}
			if tt.setup != nil {
				tt.setup(t)
			}
			code, out := runRecover(t, append([]string{"-config", path}, tt.args...)...)
			if code != tt.want {
				t.Errorf("exit code %d, want %d:\n%s", code, tt.want, out)
			}
			if !strings.Contains(out, tt.say) {
				t.Errorf("output lacks %q:\n%s", tt.say, out)
			}
			proven[code] = true
		})
	}
	if got := e.lookup(t, "web1.lab.vcrcovery.test."); len(got) != 1 || got[0].String() != "10.77.1.11" {
		t.Errorf("web1's name changed to %v", got)
	}
	_, help := runRecover(t, "-h")
	lab.CheckExitTables(t, proven, help, "../README.md", cli.ExitTargetRefused)
}

// standbyOnBig moves web1's standby to the lab's https LXD server "big" and returns
// that server's entry.
func standbyOnBig(m map[string]any) map[string]any {
	m["services"].([]any)[0].(map[string]any)["standby"].(map[string]any)["host"] = "big"
	for _, s := range m["standbys"].([]any) {
		if sb := s.(map[string]any); sb["name"] == "big" {
			return sb
		}
	}
	panic("the lab inventory has no standby big")
}

// variant writes the test's inventory changed by mod and returns its path.
func (e *env) variant(t *testing.T, mod func(t *testing.T, m map[string]any)) string {
	t.Helper()
	b, err := os.ReadFile(e.invPath)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	mod(t, m)
	if b, err = yaml.Marshal(m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vcrcovery.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// untrustedCert writes a fresh self-signed client certificate and key that no lab
// LXD server trusts.
func untrustedCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vcr-untrusted"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// runRecover runs the binary and returns its exit code and its stdout and stderr.
func runRecover(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("vcr-recover %v: %v", args, err)
	}
	return 0, string(out)
}

// TestExitCodesWithoutLab: the codes whose causes need no lab component, so that they
// are proven on any machine: usage and configuration errors (2) and an LXD server that
// refuses the connection (4, before anything else is looked at).
func TestExitCodesWithoutLab(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "ddns.key")
	if err := os.WriteFile(key, []byte("key \"k\" { algorithm hmac-sha256; secret \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"; };\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, clientKey := untrustedCert(t)
	inventory := func(keyFile string) string {
		path := filepath.Join(t.TempDir(), "vcrcovery.yaml")
		text := fmt.Sprintf(`state_dir: %s
zabbix: {server: 127.0.0.1:9}
dns: {server: 127.0.0.1:9, zone: example.test., tsig_key_file: %s}
hypervisors:
  - {name: kvm, address: 127.0.0.1:9, community_file: %s}
pool: {name: t, etcd: {endpoints: ["http://127.0.0.1:9"]}}
standbys:
  - {name: sb, url: "https://127.0.0.1:9", client_cert_file: %s, client_key_file: %s, weight: 1}
services:
  - {name: svc1, dns_name: svc1.example.test., probe: {ports: [80]}, pool: {backup: {kind: image, source: busybox}}}
  - name: web1
    hypervisor: kvm
    vm_uuid: 6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01
    dns_name: web1.example.test.
    primary_address: 10.0.0.5
    probe: {ports: [80]}
    standby: {host: sb, mode: warm}
`, filepath.Join(dir, "state"), keyFile, key, cert, clientKey)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name string
		args []string
		want int
		say  string
	}{
		{"no -service", []string{"-config", inventory(key)}, cli.ExitUsage, "-service is required"},
		{"a pooled service", []string{"-config", inventory(key), "-service", "svc1"}, cli.ExitUsage, "pooled service: its pool agent (vcr-migrate -pool) owns it"},
		{"unknown service", []string{"-config", inventory(key), "-service", "nope"}, cli.ExitUsage, `no service "nope" in the inventory (have: web1)`},
		{"event not a number", []string{"-config", inventory(key), "-service", "web1", "-event", "1;reboot"}, cli.ExitUsage, "-event must be"},
		{"TSIG key unreadable", []string{"-config", inventory(filepath.Join(dir, "missing.key")), "-service", "web1"}, cli.ExitUsage, "dns.tsig_key_file"},
		{"LXD server refuses the connection", []string{"-config", inventory(key), "-service", "web1"}, cli.ExitContainer, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runRecover(t, tt.args...)
			if code != tt.want {
				t.Errorf("exit code %d, want %d:\n%s", code, tt.want, out)
			}
			if !strings.Contains(out, tt.say) {
				t.Errorf("output lacks %q:\n%s", tt.say, out)
			}
		})
	}
}
