package provision

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vcrcovery/vcrcovery/internal/lab"
)

// TestZabbixRecoverWrapper runs scripts/zabbix-recover (what the global script calls)
// with a fake vcr-recover: valid arguments reach it exactly and its exit code comes
// back; anything else is refused with exit 2 before it runs.
func TestZabbixRecoverWrapper(t *testing.T) {
	wrapper := filepath.Join(lab.Root(t), "scripts", "zabbix-recover")
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	fake := filepath.Join(dir, "vcr-recover")
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > " + argsFile + "\nexit 7\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantArgs string // what the fake got, one per line; "" = it must not run
		wantErr  string
	}{
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(argsFile)
			cmd := exec.Command(wrapper, tt.args...)
			cmd.Env = append(os.Environ(), "VCR_RECOVER="+fake, "VCR_CONFIG=/etc/vcrcovery/test.yaml")
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
			if tt.wantArgs == "" {
				if err == nil {
					t.Fatalf("vcr-recover ran with %q", got)
				}
				return
			}
			if string(got) != tt.wantArgs {
				t.Errorf("vcr-recover got\n%s\nwant\n%s", got, tt.wantArgs)
			}
		})
	}
}
