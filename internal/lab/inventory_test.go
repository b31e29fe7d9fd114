package lab

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
)

// TestLabInventoryAccepted: the inventory that `scripts/lab env` writes is valid for the
// config package and for every binary's -check.
func TestLabInventoryAccepted(t *testing.T) {
	path := Need(t, "INVENTORY")
	inv, err := config.Load(path)
	if err != nil {
		t.Fatalf("lab inventory: %v", err)
	}
	if len(inv.Services) < 2 || len(inv.Standbys) < 2 {
		t.Fatalf("lab inventory has %d services and %d standbys, want at least 2 each", len(inv.Services), len(inv.Standbys))
	}
	root := Root(t)
	bin := t.TempDir()
	for _, b := range []string{"trapd", "sender", "recover", "migrate"} {
		exe := filepath.Join(bin, "vcr-"+b)
		cmd := exec.Command("go", "build", "-o", exe, "./"+b)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", b, err, out)
		}
		out := Run(t, 30*time.Second, exe, "-config", path, "-check")
		if !strings.Contains(out, "valid (") {
			t.Errorf("vcr-%s -check: %s", b, out)
		}
	}
}
