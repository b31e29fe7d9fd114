package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
