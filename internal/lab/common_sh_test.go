package lab

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommonShell runs scripts/lab.d/common_test.sh: lab_alive, lab_pid, lab_kill and
// lab_stop on throwaway processes (a daemon that stops, one that ignores TERM, a reused
// PID, a zombie, a dead PID, a process that ends between the check and the signal) under
// `set -e`. It needs no lab: it never touches the lab's processes or folders.
func TestCommonShell(t *testing.T) {
	script := filepath.Join(Root(t), "scripts", "lab.d", "common_test.sh")
	var stderr strings.Builder
	cmd := exec.Command("bash", script)
	cmd.Stderr = &stderr // also bash's notes on the processes the script KILLs
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("%s: %v\n%s%s", script, err, out, stderr.String())
	}
}
