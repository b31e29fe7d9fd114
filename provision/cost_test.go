package main

import (
	"os"
	"strings"
	"testing"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/lab"
)

// TestLabCostExample keeps the README's example true: the "Cost" section shows what
// -cost prints for the lab's inventory (a file the lab writes; nothing is contacted).
func TestLabCostExample(t *testing.T) {
	path := lab.Need(t, "INVENTORY")
	code, out := runProvision("-config", path, "-cost")
	if code != cli.ExitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(out, "\n")
	_, example, ok := strings.Cut(string(b), "```\n"+first+"\n")
	if !ok {
		t.Fatalf("README.md has no example starting with %q; -cost prints:\n%s", first, out)
	}
	example, _, _ = strings.Cut(example, "```\n")
	if got := strings.TrimPrefix(out, first+"\n"); got != example {
		t.Errorf("README.md's example differs from what -cost prints for the lab:\n%s\nprints:\n%s", example, got)
	}
}
