// Package lab gives tests the endpoints of the project's lab (scripts/lab), read from the
// VCR_LAB_* environment variables that `scripts/lab env` prints.
//
// Integration tests call Need for every variable they use. Outside CI a missing lab
// skips the test, so `go test ./...` works on a laptop; under CI=true it fails the test,
// because a lab component that is missing or down must never pass as a skip.
package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true), where nothing may be skipped.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need returns the value of the environment variable VCR_LAB_<name>. When it is unset the
// test fails under CI and is skipped elsewhere.
func Need(t testing.TB, name string) string {
	t.Helper()
	key := "VCR_LAB_" + name
	v := os.Getenv(key)
	if v != "" {
		return v
	}
	msg := key + " is not set: run `eval \"$(scripts/lab env)\"` after `scripts/lab up`"
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Missing fails (under CI) or skips the test because a lab component does not answer.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	if InCI() {
		t.Fatalf("lab component %s: %v", what, err)
	}
	t.Skipf("lab component %s: %v", what, err)
}

// Root returns the repository root (the folder holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository root")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Run runs a command with a deadline and returns its combined output; a failure fails
// the test with the command line and its output.
func Run(t testing.TB, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ReloadZabbixConfig makes the lab's Zabbix server see items created a moment ago: the
// trapper refuses values for items missing from its configuration cache, which
// otherwise reloads only every CacheUpdateFrequency.
func ReloadZabbixConfig(t testing.TB) {
	t.Helper()
	conf := Need(t, "ZABBIX_SERVER_CONF")
	Run(t, 30*time.Second, "zabbix_server", "-c", conf, "-R", "config_cache_reload")
	// The runtime command returns when the request is queued; the reload itself takes
	// tens of milliseconds more.
	time.Sleep(500 * time.Millisecond)
}
