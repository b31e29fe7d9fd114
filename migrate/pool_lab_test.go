package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/dcs"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/poolplan"
)

// poolInventory writes the lab inventory under a pool name of its own (so no other
// test's keys are seen) with two pooled services, pinned as the seed paper's example
// places them, and with the etcd endpoints replaced when endpoints is given.
func poolInventory(t *testing.T, name string, endpoints string) (string, *config.Inventory) {
	t.Helper()
	return poolInventoryWith(t, name, endpoints, `  - {name: p1, dns_name: p1.lab.vcrcovery.test., probe: {ports: [8080]}, pool: {replicas: 1, pin: standby, backup: {kind: image, source: busybox}}}
  - {name: p2, dns_name: p2.lab.vcrcovery.test., probe: {ports: [8080]}, pool: {replicas: 2, pin: big, backup: {kind: image, source: busybox}}}
`, 0)
}

// poolInventoryWith is poolInventory with services (YAML list items) of the caller's
// and, when period is not 0, that snapshot period.
func poolInventoryWith(t *testing.T, name, endpoints, services string, period time.Duration) (string, *config.Inventory) {
	t.Helper()
	root := lab.Root(t)
	b, err := os.ReadFile(filepath.Join(root, ".lab", "vcrcovery.yaml"))
	if err != nil {
		lab.Missing(t, "lab inventory (.lab/vcrcovery.yaml from scripts/lab env)", err)
	}
	text := strings.Replace(string(b), "pool:\n  name: lab\n", "pool:\n  name: "+name+"\n", 1)
	if endpoints != "" {
		i := strings.Index(text, "    endpoints: [")
		j := strings.Index(text[i:], "]\n")
		text = text[:i] + "    endpoints: [" + endpoints + "]\n" + text[i+j+2:]
	}
	if period != 0 {
		text = strings.Replace(text, "  snapshot_period: 30s\n", "  snapshot_period: "+period.String()+"\n", 1)
	}
	text = strings.Replace(text, "services:\n", "services:\n"+services, 1)
	path := filepath.Join(t.TempDir(), "pool.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := config.Load(path)
	if err != nil {
		t.Fatalf("pool inventory: %v", err)
	}
	return path, inv
}

func runPlan(t *testing.T, path string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"-config", path, "-pool", "-plan"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), stderr.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), stderr.String(), 0
}

// TestLabPoolPlan: -pool -plan reads the lab's etcd: with nobody in the pool it says
// every host is down and nobody owns anything; once two hosts joined and one owns p1
// with a committed snapshot on the other, it shows the owner, the holder and what the
// owner's failure would do. etcd unreachable exits 1; no pool section exits 2.
func TestLabPoolPlan(t *testing.T) {
	lab.Need(t, "ETCD")
	name := fmt.Sprintf("plan%d", time.Now().UnixNano()%1e9)
	path, inv := poolInventory(t, name, "")

	out, stderr, code := runPlan(t, path)
	if code != 0 || !strings.Contains(out, "live -; down standby,big,spare") {
		t.Fatalf("empty pool: exit %d\n%s%s", code, out, stderr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dcs.Connect(ctx, poolplan.Options(inv.Pool))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var sessions []*dcs.Session
	for _, h := range []string{"standby", "big"} {
		s, err := c.Join(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
		defer s.Close(context.Background())
	}
	if won, _, err := sessions[0].Claim(ctx, "p1"); err != nil || !won {
		t.Fatalf("claim p1: %v %v", won, err)
	}
	if _, err := sessions[0].Commit(ctx, "p1", dcs.Snapshot{Name: "snap1", Created: time.Now().Add(-5 * time.Second), Replicas: []string{"big"}}); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = runPlan(t, path, "-json")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	var p poolplan.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := p.Services[0]
	if s.Name != "p1" || s.Owner != "standby" || s.Snapshot == nil || s.Snapshot.Name != "snap1" ||
		len(s.Holding) != 1 || s.Holding[0] != "big" || s.UnderReplicated {
		t.Errorf("p1 = %+v", s)
	}
	if p2 := p.Services[1]; p2.Owner != "" || !p2.UnderReplicated {
		t.Errorf("p2 (never started) = %+v", p2)
	}
	var takeover string
	for _, f := range p.Failures {
		for _, m := range f.Moves {
			if f.Host == "standby" && m.Service == "p1" {
				takeover = m.Takeover
			}
		}
	}
	if takeover != "big" {
		t.Errorf("failure of standby: p1 taken over by %q, want big\n%s", takeover, out)
	}

	down, _ := poolInventory(t, name, `"http://127.0.0.1:9"`)
	if _, stderr, code := runPlan(t, down); code != 1 || !strings.Contains(stderr, "127.0.0.1:9") {
		t.Errorf("etcd unreachable: exit %d, %s; want 1 naming the endpoint", code, stderr)
	}
	noPool := filepath.Join(t.TempDir(), "nopool.yaml")
	b, _ := os.ReadFile(filepath.Join(lab.Root(t), ".lab", "vcrcovery.yaml"))
	text := string(b)
	text = text[:strings.Index(text, "pool:\n")] + text[strings.Index(text, "services:\n"):]
	text = strings.ReplaceAll(text, "    weight: 1\n", "")
	os.WriteFile(noPool, []byte(text), 0o600)
	if _, stderr, code := runPlan(t, noPool); code != 2 || !strings.Contains(stderr, "no pool section") {
		t.Errorf("no pool section: exit %d, %s; want 2", code, stderr)
	}
}
