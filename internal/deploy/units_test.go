package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/lab"
)

// execKeys are the unit settings that run a command.
var execKeys = []string{"ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost", "ExecCondition"}

// flagLine is a flag in the flag package's -h output: two spaces, -name, then a
// tab, a space or the end of the line.
var flagLine = regexp.MustCompile(`(?m)^  -([a-zA-Z0-9][a-zA-Z0-9._-]*)(?:\s|$)`)

// helpFlags runs bin -h and returns the flags it lists.
func helpFlags(t *testing.T, bin string) map[string]bool {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, "-h")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s -h: %v\n%s", bin, err, out.String())
	}
	got := map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(out.String(), -1) {
		got[m[1]] = true
	}
	if !got["config"] {
		t.Fatalf("%s -h lists no -config flag:\n%s", bin, out.String())
	}
	return got
}

// unitFiles returns every unit file of scripts/systemd (the pool agent's and any other
// that lands there later included), parsed.
func unitFiles(t *testing.T) []*Unit {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(lab.Root(t), "scripts", "systemd", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no unit files in scripts/systemd (%v)", err)
	}
	var units []*Unit
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		u, err := ParseUnit(filepath.Base(f), r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		units = append(units, u)
	}
	return units
}

// TestUnits: every command of every unit in scripts/systemd starts a binary that
// `make install` installed, with flags that binary lists in its -h, and values it
// accepts: the command with -check added and -config pointing at a valid inventory
// exits 0 (flag values are parsed before the inventory is checked). A template unit
// (name@.service) is run with instance "x". Every service runs a vcrcovery binary
// sandboxed the way the README says (ProtectSystem=strict, state_dir writable), and
// every timer has a service to start.
func TestUnits(t *testing.T) {
	dest := installed(t)
	inv := filepath.Join(t.TempDir(), "vcrcovery.yaml")
	if err := os.WriteFile(inv, []byte("zabbix: {server: 127.0.0.1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	help := map[string]map[string]bool{}
	units := unitFiles(t)
	names := map[string]bool{}
	for _, u := range units {
		names[u.Name] = true
	}
	for _, u := range units {
		t.Run(u.Name, func(t *testing.T) {
			switch {
			case strings.HasSuffix(u.Name, ".timer"):
				if u.Values("Timer", "Unit") == nil && !names[strings.TrimSuffix(u.Name, ".timer")+".service"] {
					t.Errorf("timer without its service %s", strings.TrimSuffix(u.Name, ".timer")+".service")
				}
				return
			case !strings.HasSuffix(u.Name, ".service"):
				t.Fatalf("not a .service or .timer")
			}
			if got := u.Values("Service", "ProtectSystem"); len(got) == 0 || got[len(got)-1] != "strict" {
				t.Errorf("ProtectSystem=%v, want strict", got)
			}
			if u.Values("Service", "StateDirectory") == nil && u.Values("Service", "ReadWritePaths") == nil {
				t.Error("neither StateDirectory= nor ReadWritePaths=: state_dir would be read-only")
			}
			instance := ""
			if u.Template() {
				instance = "x"
			}
			n := 0
			for _, key := range execKeys {
				for _, v := range u.Values("Service", key) {
					n++
					checkCommand(t, dest, inv, key, v, instance, help)
				}
			}
			if n == 0 {
				t.Error("no ExecStart")
			}
		})
	}
}

// checkCommand checks one Exec*= value of a unit (TestUnits).
func checkCommand(t *testing.T, dest, inv, key, value, instance string, help map[string]map[string]bool) {
	t.Helper()
	args, err := Command(value, instance)
	if err != nil {
		t.Errorf("%s: %v", key, err)
		return
	}
	if !strings.HasPrefix(args[0], prefix+"/bin/vcr-") {
		t.Errorf("%s=%s: want one of the binaries in %s/bin", key, args[0], prefix)
		return
	}
	bin := filepath.Join(dest, args[0])
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("%s=%s: not installed by make install as an executable (%v)", key, args[0], err)
		return
	}
	if help[bin] == nil {
		help[bin] = helpFlags(t, bin)
	}
	for _, f := range Flags(args[1:]) {
		if !help[bin][f] {
			t.Errorf("%s: %s has no flag -%s (not in its -h)", key, filepath.Base(bin), f)
		}
	}
	// The same command, on a valid inventory, with -check: exit 0 means every flag
	// and value parsed.
	run := []string{}
	for i := 1; i < len(args); i++ {
		run = append(run, args[i])
		if args[i] == "-config" && i+1 < len(args) {
			run = append(run, inv)
			i++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(run, "-config", inv, "-check")...).CombinedOutput()
	if err != nil {
		t.Errorf("%s with -check: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestUnitsVerify runs `systemd-analyze verify` on every unit as installed, in a root
// holding the installed tree and a copy of the system's own units (the targets they
// name): it checks the settings and that each command is an executable there. Any
// warning (an unknown or misspelt setting) fails too. `systemd-analyze security
// --offline` must rate each service's exposure at most 3.0 ("OK"): losing the
// sandbox fails the test. Needs systemd-analyze, not systemd as PID 1.
func TestUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		lab.Missing(t, "systemd-analyze (package systemd)", err)
	}
	root := installed(t)
	sys := filepath.Join(root, "usr", "lib", "systemd", "system")
	if _, err := os.Stat(sys); err != nil {
		if err := os.MkdirAll(filepath.Dir(sys), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", "/lib/systemd/system", sys).CombinedOutput(); err != nil {
			t.Fatalf("copy the system's units: %v\n%s", err, out)
		}
	}
	unitDir := filepath.Join(root, prefix, "lib", "systemd", "system")
	exposure := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)
	for _, u := range unitFiles(t) {
		t.Run(u.Name, func(t *testing.T) {
			cmd := exec.Command(analyze, "verify", "--root="+root, "./"+u.Name)
			cmd.Dir = unitDir
			out, err := cmd.CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", u.Name, err, out)
			}
			if !strings.HasSuffix(u.Name, ".service") {
				return
			}
			cmd = exec.Command(analyze, "security", "--offline=true", "--root="+root, "./"+u.Name)
			cmd.Dir = unitDir
			out, _ = cmd.CombinedOutput()
			m := exposure.FindSubmatch(out)
			if m == nil {
				t.Fatalf("systemd-analyze security printed no exposure level:\n%s", out)
			}
			if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 3.0 {
				t.Errorf("exposure level %.1f, want at most 3.0:\n%s", level, out)
			} else {
				t.Logf("exposure level %.1f", level)
			}
		})
	}
}
