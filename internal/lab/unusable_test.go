package lab

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExitCodes(t *testing.T) {
	help := "Exit codes:\n  0  done\n  1  -once: a hypervisor could not\n     be sampled\n  2  usage\n"
	readme := "| code | meaning |\n|---|---|\n| 0 | done |\n| 7 | lost the race |\n"
	if diff := cmp.Diff(map[int]string{0: "done", 1: "-once: a hypervisor could not", 2: "usage"}, ExitCodes(help)); diff != "" {
		t.Errorf("help (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[int]string{0: "done", 7: "lost the race"}, ExitCodes(readme)); diff != "" {
		t.Errorf("readme (-want +got):\n%s", diff)
	}
}
