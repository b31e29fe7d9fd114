// Command results assembles scripts/bench's results file: DIR/raw holds what each
// benchmark left (NAME.json from the Go benchmarks, NAME.txt from the go-test ones,
// NAME.started its start time);
// this adds the machine's facts and the versions of the real components, writes
// DIR/results.json and renders the plots into DIR with gnuplot. Run by scripts/bench.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/benchres"
	"github.com/vcrcovery/vcrcovery/internal/config"
)

func main() {
	dir := flag.String("dir", "", "the results folder (with raw/ inside)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: results -dir DIR")
		os.Exit(2)
	}
	if err := run(context.Background(), *dir, time.Now().UTC().Format(time.RFC3339)); err != nil {
		fmt.Fprintln(os.Stderr, "bench-results:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir, date string) error {
	r := &benchres.Results{Date: date, Machine: machine(ctx), Versions: versions(ctx)}
	if inv, err := config.Load(os.Getenv("VCR_LAB_INVENTORY")); err == nil {
		r.DNSTTL = float64(inv.DNS.TTL)
	} else {
		return fmt.Errorf("the lab inventory (dns.ttl): %w", err)
	}
	raw := filepath.Join(dir, "raw")
	started, _ := filepath.Glob(filepath.Join(raw, "*.started"))
	r.Started = map[string]string{}
	for _, f := range started {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		r.Started[strings.TrimSuffix(filepath.Base(f), ".started")] = strings.TrimSpace(string(b))
	}
	for name, dst := range map[string]any{"recover.json": &r.Recover, "e2e.json": &r.E2E, "migrate.json": &r.Migrate} {
		b, err := os.ReadFile(filepath.Join(raw, name))
		if os.IsNotExist(err) {
			continue
		}
		if err == nil {
			err = json.Unmarshal(b, dst)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	text := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(raw, name))
		return string(b)
	}
	r.Trapd = benchres.ParseTrapd(text("trapd.txt"))
	r.Sender = benchres.ParseGoBench(text("sender.txt"))
	r.Placement = benchres.ParseGoBench(text("placement.txt"))
	r.Pool = benchres.ParsePool(text("pool.txt"))
	if err := benchres.WriteJSON(filepath.Join(dir, "results.json"), r); err != nil {
		return err
	}
	for _, p := range benchres.Plots(r) {
		script, err := p.Write(dir)
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "gnuplot", filepath.Base(script))
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("gnuplot %s: %v: %s", script, err, out)
		}
		fmt.Println("plot:", filepath.Join(dir, p.PNG))
	}
	fmt.Println("results:", filepath.Join(dir, "results.json"))
	return nil
}

func machine(ctx context.Context) benchres.Machine {
	m := benchres.Machine{CPUs: runtime.NumCPU(), Kernel: first(ctx, `(\S+)`, "uname", "-r")}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if i := strings.Index(string(b), "MemTotal:"); i >= 0 {
			fmt.Sscan(string(b)[i+len("MemTotal:"):], &kb)
		}
		m.MemoryBytes = kb * 1024
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		if s := regexp.MustCompile(`(?m)^PRETTY_NAME="?([^"\n]+)`).FindStringSubmatch(string(b)); s != nil {
			m.OS = s[1]
		}
	}
	return m
}

// versions asks each real component of the lab for its version.
func versions(ctx context.Context) map[string]string {
	v := map[string]string{}
	num := `(\d+\.\d+[.\d]*)`
	for name, cmd := range map[string][]string{
		"zabbix": {"zabbix_server", "-V"}, "lxd": {"lxd", "--version"}, "bind": {"named", "-v"},
		"etcd": {"etcd", "--version"}, "libvirt": {"libvirtd", "--version"}, "net-snmp": {"snmpd", "-v"},
		"go": {"go", "version"},
	} {
		if s := first(ctx, num, cmd...); s != "" {
			v[name] = s
		}
	}
	return v
}

// first runs the command and returns the first match of re's group in its output.
func first(ctx context.Context, re string, cmd ...string) string {
	out, _ := exec.CommandContext(ctx, cmd[0], cmd[1:]...).CombinedOutput()
	if m := regexp.MustCompile(re).FindStringSubmatch(string(out)); m != nil {
		return m[1]
	}
	return ""
}
