package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcrcovery/vcrcovery/internal/cli"
)

// TestUsage: bad command lines exit 2 with a message naming the problem, before any
// server is asked (the inventory's LXD URLs lead nowhere).
func TestUsage(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "ddns.key")
	os.WriteFile(key, []byte("key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\";\n};\n"), 0o600)
	inv := filepath.Join(dir, "inv.yaml")
	os.WriteFile(inv, []byte(`state_dir: `+dir+`
zabbix: {server: 127.0.0.1:1}
dns: {server: 127.0.0.1:1, zone: example.test., tsig_key_file: `+key+`}
hypervisors: [{name: h, address: 127.0.0.1:1, community_file: `+key+`}]
standbys:
  - {name: standby, url: "unix:///nonexistent/a.socket"}
  - {name: big, url: "unix:///nonexistent/b.socket"}
services:
  - name: web1
    hypervisor: h
    vm_uuid: 6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01
    dns_name: web1.example.test.
    primary_address: 10.0.0.1
    probe: {ports: [80]}
    standby: {host: standby, mode: warm}
`), 0o600)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-to", "big"}, "-service and -to are required"},
		{[]string{"-service", "nope", "-to", "big"}, `no service "nope"`},
		{[]string{"-service", "web1", "-to", "huge"}, `no standby "huge" in the inventory (have: standby, big)`},
		{[]string{"-service", "web1", "-to", "big", "-stop", "soft"}, "-stop must be freeze, force or graceful"},
		{[]string{"-auto", "-service", "web1"}, "-auto chooses the services"},
		{[]string{"-auto", "-event", "1;reboot"}, "-event must be a Zabbix event ID"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			service, to, stop, auto, event = "", "", "freeze", false, ""
			var stdout, stderr strings.Builder
			code := cli.Run(program, append([]string{"-config", inv}, tt.args...), &stdout, &stderr)
			if code != cli.ExitUsage || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tt.want)
			}
		})
	}
}
