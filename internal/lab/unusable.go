package lab

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Folders that no process can write, for tests of "could not run" exit codes. Tests run
// as root, and chmod does not stop root: these fail for root too.

// ReadOnlyDir returns an empty folder on a tmpfs mounted read-only (EROFS for every
// write, root's included); it is unmounted when the test ends. Mounting needs root:
// elsewhere the test is skipped, under CI it fails.
func ReadOnlyDir(t testing.TB) string {
	t.Helper()
	dir := mountTmpfs(t, "ro,size=64k")
	// Prove it: a test that relies on an unwritable folder must not pass on a writable one.
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o600); err == nil {
		t.Fatalf("%s is writable after a read-only mount", dir)
	}
	return dir
}

// FullDir returns a folder on a small tmpfs filled to the last byte: files and folders
// can still be created (a lock file, say), but writing data fails with ENOSPC, as on
// a full disk. It is unmounted when the test ends; mounting needs root, as for
// ReadOnlyDir.
func FullDir(t testing.TB) string {
	t.Helper()
	dir := mountTmpfs(t, "size=64k")
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for buf := make([]byte, 4096); ; {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return dir
		}
	}
}

func mountTmpfs(t testing.TB, options string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir).CombinedOutput(); err != nil {
		msg := "mount a tmpfs (" + options + "): " + err.Error() + ": " + string(out)
		if InCI() || os.Geteuid() == 0 {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// Cleanups run last-in first-out: this unmount comes before TempDir's removal.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
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
// others are codes of readme's table that belong to another binary sharing it
// (migrate's 8 in recover's table).
func CheckExitTables(t testing.TB, proven map[int]bool, help, readme string, others ...int) {
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
	if diff := cmp.Diff(proven, keys(ExitCodes(helpTable))); diff != "" {
		t.Errorf("--help's exit codes differ from those the tests proved (-proven +help):\n%s", diff)
	}
	inReadme := keys(ExitCodes(table))
	for _, c := range others {
		delete(inReadme, c)
	}
	if diff := cmp.Diff(proven, inReadme); diff != "" {
		t.Errorf("%s's exit codes differ from those the tests proved (-proven +readme):\n%s", readme, diff)
	}
}

// ExitCodes returns the codes and meanings of an exit-code table, either --help's
// ("  1  meaning" lines after "Exit codes:") or a README's ("| 1 | meaning |" rows), so
// that a test can hold the two against each other and against what it proves.
// Continuation lines of a meaning are not part of it.
func ExitCodes(table string) map[int]string {
	codes := map[int]string{}
	for _, line := range strings.Split(table, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "|"); ok {
			line = strings.ReplaceAll(strings.TrimSuffix(rest, "|"), "|", " ")
		}
		num, meaning, ok := strings.Cut(strings.TrimSpace(line), " ")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || n > 125 {
			continue
		}
		codes[n] = strings.TrimSpace(meaning)
	}
	return codes
}
