package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/lab"
)

func runProvision(args ...string) (int, string) {
	var out, errb bytes.Buffer
	code := cli.Run(program, args, &out, &errb)
	return code, out.String() + errb.String()
}

// writeFile writes a 0600 file in a fresh folder and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExitCodes provokes every exit code of vcr-provision by its real cause without
// the lab (an API address nobody listens on) and holds the codes proven against
// --help and this package's README table. TestLabExitCodes adds the lab's causes.
func TestExitCodes(t *testing.T) {
	token := writeFile(t, "token", "0123456789abcdef\n")
	inventory := func(apiURL string) string {
		z := "zabbix:\n  server: 127.0.0.1:9\n"
		if apiURL != "" {
			z += fmt.Sprintf("  api_url: %s\n  api_token_file: %s\n", apiURL, token)
		}
		return writeFile(t, "vcrcovery.yaml", z)
	}
	unreachable := inventory("http://127.0.0.1:9/api_jsonrpc.php")
	tests := []struct {
		name string
		args []string
		want int
		say  string
	}{
		{"check", []string{"-config", unreachable, "-check"}, cli.ExitOK, "valid"},
		{"Zabbix API unreachable", []string{"-config", unreachable, "-trapd-host", "standby", "-cloud-host", "standby"}, cli.ExitRuntime, "connection refused"},
		{"no api_url", []string{"-config", inventory(""), "-trapd-host", "standby", "-cloud-host", "standby"}, cli.ExitUsage, "zabbix.api_url"},
		{"bad -standby-agent", []string{"-config", unreachable, "-standby-agent", "standby"}, cli.ExitUsage, "want NAME=HOST:PORT"},
		// -cost never contacts Zabbix: the unreachable API does not matter.
		{"cost", []string{"-config", unreachable, "-cost"}, cli.ExitOK, "conventional-warm"},
		{"cost csv", []string{"-config", unreachable, "-cost", "-csv"}, cli.ExitOK, "scheme,paid_for,"},
		{"cost negative price", []string{"-config", unreachable, "-cost", "-cost-vm-price", "-0.01"}, cli.ExitUsage, "-cost-vm-price: must be a number of at least 0, got -0.01"},
		{"cost no users", []string{"-config", unreachable, "-cost", "-cost-users", "0"}, cli.ExitUsage, "-cost-users: must be 1 or more, got 0"},
		{"cost price not a number", []string{"-config", unreachable, "-cost", "-cost-gb", "ten"}, cli.ExitUsage, `invalid value "ten" for flag -cost-gb`},
		{"csv without cost", []string{"-config", unreachable, "-csv"}, cli.ExitUsage, "-csv needs -cost"},
	}
	proven := map[int]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runProvision(tt.args...)
			if code != tt.want {
				t.Errorf("exit %d, want %d:\n%s", code, tt.want, out)
			}
			if !strings.Contains(out, tt.say) {
				t.Errorf("output lacks %q:\n%s", tt.say, out)
			}
			proven[code] = true
		})
	}
	t.Run("cost to a full disk", func(t *testing.T) {
		// /dev/full refuses every write (ENOSPC): a report that cannot be written is
		// not a success.
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer full.Close()
		var errb bytes.Buffer
		code := cli.Run(program, []string{"-config", unreachable, "-cost"}, full, &errb)
		if code != cli.ExitRuntime || !strings.Contains(errb.String(), "cannot write the cost report") {
			t.Errorf("exit %d, want %d:\n%s", code, cli.ExitRuntime, errb.String())
		}
	})
	_, help := runProvision("-h")
	lab.CheckExitTables(t, proven, help, "README.md")
}

// TestLabExitCodes: on the lab's Zabbix, a dry run exits 0 and a login that Zabbix
// refuses exits 1.
func TestLabExitCodes(t *testing.T) {
	path := lab.Need(t, "INVENTORY")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	z := m["zabbix"].(map[string]any)
	z["password_file"] = writeFile(t, "password", "not-the-password\n")
	if b, err = yaml.Marshal(m); err != nil {
		t.Fatal(err)
	}
	wrong := writeFile(t, "vcrcovery.yaml", string(b))
	if code, out := runProvision("-config", path, "-dry-run", "-no-discovery"); code != cli.ExitOK {
		t.Errorf("dry run: exit %d:\n%s", code, out)
	}
	if code, out := runProvision("-config", wrong, "-dry-run", "-no-discovery"); code != cli.ExitRuntime || !strings.Contains(out, "cannot reach the Zabbix API") {
		t.Errorf("wrong password: exit %d, want %d:\n%s", code, cli.ExitRuntime, out)
	}
}
