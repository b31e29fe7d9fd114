package secret

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func write(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask may have masked bits
		t.Fatal(err)
	}
	return p
}

func TestReadFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    Secret
		wantErr string
	}{
		{"trimmed", "s3cret\n", 0o600, "s3cret", ""},
		{"owner read only", "x", 0o400, "x", ""},
		{"group readable", "x", 0o640, "", "readable or writable by group or others (mode 0640)"},
		{"world readable", "x", 0o644, "", "(mode 0644): run chmod 600"},
		{"group writable", "x", 0o620, "", "mode 0620"},
		{"empty", " \n", 0o600, "", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFile(write(t, tt.content, tt.mode))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got.Reveal(), tt.want.Reveal())
			}
		})
	}
}

func TestLoosePermissionsIsSentinel(t *testing.T) {
	_, err := ReadFile(write(t, "x", 0o604))
	if !errors.Is(err, ErrLoosePermissions) {
		t.Fatalf("err = %v, want ErrLoosePermissions", err)
	}
}

func TestMissingAndDirectory(t *testing.T) {
	if _, err := ReadFile(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v, want ErrNotExist", err)
	}
	d := t.TempDir()
	if err := os.Chmod(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(d); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: err = %v", err)
	}
}

func TestReadLines(t *testing.T) {
	got, err := ReadLines(write(t, "# allowed communities\npublic\n\n  lab  \n", 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Secret{"public", "lab"}, got); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
	if _, err := ReadLines(write(t, "# none\n", 0o600)); err == nil {
		t.Fatal("want an error for a file without values")
	}
}

// TestNeverPrinted checks every way a value usually reaches a log.
func TestNeverPrinted(t *testing.T) {
	s := Secret("hunter2")
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "token", s)
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "token", s)
	j, err := json.Marshal(struct{ T Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("%v %s %+v %#v %q", s, s, s, s, s) + b.String() + string(j)
	if strings.Contains(out, "hunter2") {
		t.Fatalf("secret leaked: %s", out)
	}
	if s.Reveal() != "hunter2" {
		t.Fatal("Reveal lost the value")
	}
}
