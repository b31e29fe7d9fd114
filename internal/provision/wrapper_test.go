package provision

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/lab"
)

// TestZabbixRecoverWrapper runs scripts/zabbix-recover (what the global script calls)
// with a fake vcr-recover: valid arguments reach it exactly and its exit code comes
// back; anything else is refused with exit 2 before it runs.
func TestZabbixRecoverWrapper(t *testing.T) {
	testWrapper(t, "zabbix-recover", "VCR_RECOVER", []wrapperCase{
		{"valid", []string{"web1", "1234", "56"}, 7,
			"-config\n/etc/vcrcovery/test.yaml\n-service\nweb1\n-event\n1234\n", ""},
		{"dots and dashes", []string{"db-1.main_x", "1", "2"}, 7,
			"-config\n/etc/vcrcovery/test.yaml\n-service\ndb-1.main_x\n-event\n1\n", ""},
		{"fast path", []string{"web1", "fast-path"}, 7,
			"-config\n/etc/vcrcovery/test.yaml\n-service\nweb1\n", ""},
		{"fast path bad service", []string{"web1;id", "fast-path"}, 2, "", "is not a service name"},
		{"empty ids are not a fast path", []string{"web1", "", ""}, 2, "", "event ID '' is not a number"},
		{"too few", []string{"web1", "1"}, 2, "", "want 3 arguments"},
		{"too many", []string{"web1", "1", "2", "3"}, 2, "", "want 3 arguments"},
		{"injection", []string{"web1'; touch /tmp/x; '", "1", "2"}, 2, "", "is not a service name"},
		{"unresolved macro", []string{"{EVENT.TAGS.service}", "1", "2"}, 2, "", "is not a service name"},
		{"unknown", []string{"*UNKNOWN*", "1", "2"}, 2, "", "is not a service name"},
		{"upper case", []string{"Web1", "1", "2"}, 2, "", "is not a service name"},
		{"leading dash", []string{"-web1", "1", "2"}, 2, "", "is not a service name"},
		{"empty service", []string{"", "1", "2"}, 2, "", "is not a service name"},
		{"event not digits", []string{"web1", "1 2", "3"}, 2, "", "event ID '1 2' is not a number"},
		{"trigger not digits", []string{"web1", "1", "-3"}, 2, "", "trigger ID '-3' is not a number"},
		{"newline", []string{"web1\nweb2", "1", "2"}, 2, "", "is not a service name"},
	})
}

// TestZabbixMigrateWrapper runs scripts/zabbix-migrate (what the global script
// "vcrcovery migrate auto" calls) the same way, with a fake vcr-migrate.
func TestZabbixMigrateWrapper(t *testing.T) {
	// vcr-migrate runs detached (the agent's timeout must not kill a move): the wrapper
	// exits 0 once it started, whatever vcr-migrate's own exit code.
	testWrapper(t, "zabbix-migrate", "VCR_MIGRATE", []wrapperCase{
		{"valid", []string{"1234"}, 0, "-config\n/etc/vcrcovery/test.yaml\n-auto\n-event\n1234\n", ""},
		{"long", []string{"12345678901234567890"}, 0, "-config\n/etc/vcrcovery/test.yaml\n-auto\n-event\n12345678901234567890\n", ""},
		{"too long", []string{"123456789012345678901"}, 2, "", "is not a number"},
		{"none", nil, 2, "", "want 1 argument"},
		{"too many", []string{"1", "2"}, 2, "", "want 1 argument"},
		{"empty", []string{""}, 2, "", "event ID '' is not a number"},
		{"injection", []string{"1; touch /tmp/x"}, 2, "", "is not a number"},
		{"quote", []string{"1'"}, 2, "", "is not a number"},
		{"option", []string{"-dry-run"}, 2, "", "is not a number"},
		{"negative", []string{"-3"}, 2, "", "is not a number"},
		{"unresolved macro", []string{"{EVENT.ID}"}, 2, "", "is not a number"},
		{"unknown", []string{"*UNKNOWN*"}, 2, "", "is not a number"},
		{"newline", []string{"1\n2"}, 2, "", "is not a number"},
		{"space", []string{"1 2"}, 2, "", "event ID '1 2' is not a number"},
	})
}

// wrapperCase is one run of a wrapper script.
type wrapperCase struct {
	name     string
	args     []string
	wantCode int
	wantArgs string // what the fake got, one per line; "" = it must not run
	wantErr  string
}

// testWrapper runs scripts/<script> with a fake binary (named by envVar) that records
// its arguments and exits 7: valid arguments reach it exactly (and, for a wrapper that
// waits for it, its exit code comes back); anything else is refused with exit 2 before it
// runs.
func testWrapper(t *testing.T, script, envVar string, tests []wrapperCase) {
	t.Helper()
	wrapper := filepath.Join(lab.Root(t), "scripts", script)
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	fake := filepath.Join(dir, "fake")
	body := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > " + argsFile + "\nexit 7\n"
	if err := os.WriteFile(fake, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(argsFile)
			cmd := exec.Command(wrapper, tt.args...)
			cmd.Env = append(os.Environ(), envVar+"="+fake, "VCR_CONFIG=/etc/vcrcovery/test.yaml",
				"VCR_MIGRATE_LOG="+filepath.Join(dir, "migrate.log"))
			out, err := cmd.CombinedOutput()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tt.wantCode, out)
			}
			if !strings.Contains(string(out), tt.wantErr) {
				t.Errorf("output %q, want it to contain %q", out, tt.wantErr)
			}
			got, err := os.ReadFile(argsFile)
			// A detached fake (zabbix-migrate) may not have written yet.
			for i := 0; tt.wantArgs != "" && string(got) != tt.wantArgs && i < 100; i++ {
				time.Sleep(50 * time.Millisecond)
				got, err = os.ReadFile(argsFile)
			}
			if tt.wantArgs == "" {
				if err == nil {
					t.Fatalf("the fake ran with %q", got)
				}
				return
			}
			if string(got) != tt.wantArgs {
				t.Errorf("the fake got\n%s\nwant\n%s", got, tt.wantArgs)
			}
		})
	}
}
