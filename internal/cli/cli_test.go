package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/vcrcovery/vcrcovery/internal/lab"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("zabbix: {server: 127.0.0.1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("zabbix: {server: 127.0.0.1, bogus: 1}\ndns: {ttl: 0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantMain   bool
		wantOut    string
		wantErrOut string
	}{
		{"help", []string{"-h"}, ExitOK, false, "", "Exit codes:\n  0  done"},
		{"unknown flag", []string{"-nope"}, ExitUsage, false, "", "flag provided but not defined: -nope"},
		{"extra argument", []string{"-config", good, "web1"}, ExitUsage, false, "", `unexpected argument "web1"`},
		{"check valid", []string{"-config", good, "-check"}, ExitOK, false, "good.yaml: valid (0 services", ""},
		{"check invalid lists every error", []string{"-config", bad, "-check"}, ExitUsage, false, "",
			"bad.yaml: 1 error(s):\n  zabbix.bogus: unknown field (line 1)"},
		{"invalid without check", []string{"-config", bad}, ExitUsage, false, "", "zabbix.bogus"},
		{"missing file", []string{"-config", filepath.Join(dir, "none.yaml")}, ExitUsage, false, "", "no such file or directory"},
		{"bad log format", []string{"-config", good, "-log-format", "xml"}, ExitUsage, false, "", `-log-format: want text or json, got "xml"`},
		{"own flag and main", []string{"-config", good, "-service", "web1"}, 42, true, "", ""},
		// --version answers before the inventory is read: a fresh machine has none.
		{"version", []string{"-version", "-config", filepath.Join(dir, "none.yaml")}, ExitOK, false, "vcr-test ", ""},
		{"--version", []string{"--version"}, ExitOK, false, " revision ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var service string
			called := false
			p := Program{
				Name: "vcr-test", Synopsis: "vcr-test [flags]", About: "Tests.",
				Flags: func(fs *flag.FlagSet) { fs.StringVar(&service, "service", "", "service") },
				Main: func(env Env) int {
					called = true
					if env.Inventory == nil || env.Log == nil {
						t.Error("Main got no inventory or logger")
					}
					if service != "web1" {
						t.Errorf("service flag = %q", service)
					}
					return 42
				},
			}
			var out, errOut bytes.Buffer
			code := Run(p, tt.args, &out, &errOut)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.wantCode, errOut.String())
			}
			if called != tt.wantMain {
				t.Errorf("main called = %v, want %v", called, tt.wantMain)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout %q, want it to contain %q", out.String(), tt.wantOut)
			}
			if !strings.Contains(errOut.String(), tt.wantErrOut) {
				t.Errorf("stderr %q, want it to contain %q", errOut.String(), tt.wantErrOut)
			}
		})
	}
}

// TestExitCodesHelp: the table --help prints for recover and migrate names every exit
// constant, and nothing else.
func TestExitCodesHelp(t *testing.T) {
	want := []int{ExitOK, ExitRuntime, ExitUsage, ExitRefused, ExitContainer, ExitProbe, ExitDNS, ExitLostRace}
	got := lab.ExitCodes(ExitCodesHelp)
	if len(got) != len(want) {
		t.Errorf("help table has codes %v, want %v", got, want)
	}
	for _, c := range want {
		if got[c] == "" {
			t.Errorf("help table lacks exit code %d:\n%s", c, ExitCodesHelp)
		}
	}
}

func TestExitCode(t *testing.T) {
	base := errors.New("open spool: read-only file system")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"unmarked", base, 99},
		{"marked", Fail(ExitRuntime, base), ExitRuntime},
		{"wrapped", fmt.Errorf("trapd: %w", Fail(ExitUsage, base)), ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.err, 99); got != tt.want {
				t.Errorf("ExitCode = %d, want %d", got, tt.want)
			}
		})
	}
	if got := Fail(ExitRuntime, base).Error(); got != base.Error() {
		t.Errorf("Fail changed the message: %q", got)
	}
	if !errors.Is(Fail(ExitRuntime, base), base) {
		t.Error("Fail hides the error it wraps")
	}
}

// TestFromBuildInfo: the toolchain's stamp wins; the linker's values fill in what a
// build in a git worktree lacks; with neither, the line still says what it does not know.
func TestFromBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20261203053244-b9bffa3c0d1e+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "b9bffa3c0d1e"}, {Key: "vcs.time", Value: "2026-12-03T05:32:44Z"}, {Key: "vcs.modified", Value: "true"}}}
	devel := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}
	tests := []struct {
		name                  string
		bi                    *debug.BuildInfo
		version, rev, at, mod string
		want                  Build
		wantLine              string
	}{
		{"stamped", stamped, "", "", "", "", Build{"v0.0.0-20261203053244-b9bffa3c0d1e+dirty", "b9bffa3c0d1e", "2026-12-03T05:32:44Z", true, "go1.26.0"},
			"v0.0.0-20261203053244-b9bffa3c0d1e+dirty revision b9bffa3c0d1e (modified) 2026-12-03T05:32:44Z go1.26.0"},
		{"stamp beats linker", stamped, "other", "ffff", "2020-01-01T00:00:00Z", "false", Build{"v0.0.0-20261203053244-b9bffa3c0d1e+dirty", "b9bffa3c0d1e", "2026-12-03T05:32:44Z", true, "go1.26.0"}, ""},
		{"worktree: linker", devel, "b9bffa3", "b9bffa3c0d1e", "2026-12-03T05:32:44Z", "false", Build{"b9bffa3", "b9bffa3c0d1e", "2026-12-03T05:32:44Z", false, "go1.26.0"},
			"b9bffa3 revision b9bffa3c0d1e 2026-12-03T05:32:44Z go1.26.0"},
		{"nothing known", devel, "", "", "", "", Build{"(devel)", "", "", false, "go1.26.0"}, "(devel) revision unknown go1.26.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromBuildInfo(tt.bi, tt.version, tt.rev, tt.at, tt.mod)
			if got != tt.want {
				t.Errorf("fromBuildInfo = %+v, want %+v", got, tt.want)
			}
			if tt.wantLine != "" && got.String() != tt.wantLine {
				t.Errorf("String() = %q, want %q", got.String(), tt.wantLine)
			}
		})
	}
}
