package lab

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/cli"
)

// Folders that no process can write, for tests of "could not run" exit codes. Tests run
// as root, and chmod does not stop root: these fail for root too.

// ReadOnlyDir returns an empty folder on a tmpfs mounted read-only (EROFS for every
// write, root's included); it is unmounted when the test ends. Mounting needs root:
// elsewhere the test is skipped, under CI it fails.
func ReadOnlyDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		msg := "mount a read-only tmpfs: " + err.Error() + ": " + string(out)
		if InCI() || os.Geteuid() == 0 {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	// Prove it: a test that relies on an unwritable folder must not pass on a writable one.
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o600); err == nil {
		t.Fatalf("%s is writable after a read-only mount", dir)
	}
	return dir
}

// UnderFile returns a path whose parent is a regular file: creating or opening anything
// there fails with ENOTDIR, for root too.
func UnderFile(t testing.TB, name string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(file, name)
}

// CheckExitTables: the exit codes of a binary's --help table (after "Exit codes:"),
// of the "| code | meaning |" table in readme and the codes its tests proved are one
// set, so that neither document promises a code no test provokes, nor omits one.
func CheckExitTables(t testing.TB, proven map[int]bool, help, readme string) {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| code | meaning |")
	if !ok {
		t.Fatalf("%s has no exit-code table (| code | meaning |)", readme)
	}
	table, _, _ = strings.Cut(table, "\n\n")
	_, helpTable, ok := strings.Cut(help, "Exit codes:")
	if !ok {
		t.Fatalf("--help has no exit-code table:\n%s", help)
	}
	keys := func(m map[int]string) map[int]bool {
		k := map[int]bool{}
		for c := range m {
			k[c] = true
		}
		return k
	}
	if diff := cmp.Diff(proven, keys(cli.ExitCodes(helpTable))); diff != "" {
		t.Errorf("--help's exit codes differ from those the tests proved (-proven +help):\n%s", diff)
	}
	if diff := cmp.Diff(proven, keys(cli.ExitCodes(table))); diff != "" {
		t.Errorf("%s's exit codes differ from those the tests proved (-proven +readme):\n%s", readme, diff)
	}
}
