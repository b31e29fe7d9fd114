package zabbix

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/secret"
)

// Benchmark of Sender against zabbix_sender (the reference implementation, which sends
// 250 values per connection) on the same 10,000 values to the lab's real server, in the
// same run, alternating which goes first. Run it with
//
//	eval "$(scripts/lab env)"; go test ./internal/zabbix -run XXX -bench Sender -benchtime 5x
//
// It reports values/s of each and their ratio (Sender / zabbix_sender; above 1 means
// Sender is faster). ns/op is the time of both together and means little.

const (
	benchItems  = 100
	benchValues = 10000
)

// benchHost creates a host with benchItems trapper items of type numeric unsigned,
// deleted at the end, and waits until the trapper accepts them.
func benchHost(b *testing.B, a *API) string {
	b.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("vcr-bench-%d", time.Now().UnixNano())
	groups, err := a.HostGroupsByName(ctx, "Discovered hosts")
	if err != nil || len(groups) == 0 {
		b.Fatalf("host group Discovered hosts: %v %v", groups, err)
	}
	id, err := a.CreateHost(ctx, Host{Host: name, Groups: groups})
	if err != nil {
		b.Fatalf("create host %s: %v", name, err)
	}
	b.Cleanup(func() { a.Call(context.Background(), "host.delete", []string{id}, nil) })
	var items []map[string]any
	for i := 0; i < benchItems; i++ {
		k := "vcr.bench[" + strconv.Itoa(i) + "]"
		// type 2 = Zabbix trapper, value_type 3 = numeric unsigned
		items = append(items, map[string]any{"hostid": id, "name": k, "key_": k, "type": 2, "value_type": 3})
	}
	if err := a.Call(ctx, "item.create", items, nil); err != nil {
		b.Fatalf("create %d items: %v", benchItems, err)
	}
	lab.ReloadZabbixConfig(b)
	return name
}

func BenchmarkSender(b *testing.B) {
	trapper := lab.Need(b, "ZABBIX_TRAPPER")
	tok, err := secret.ReadFile(lab.Need(b, "ZABBIX_TOKEN_FILE"))
	if err != nil {
		b.Fatal(err)
	}
	a, err := NewAPI(context.Background(), APIOptions{URL: lab.Need(b, "ZABBIX_API"), Token: tok})
	if err != nil {
		lab.Missing(b, "zabbix-api", err)
	}
	zs, err := exec.LookPath("zabbix_sender")
	if err != nil {
		lab.Missing(b, "zabbix_sender", err)
	}
	host := benchHost(b, a)
	addr, port, _ := strings.Cut(trapper, ":")

	values := make([]Value, benchValues)
	var file strings.Builder
	for i := range values {
		values[i] = Value{Host: host, Key: "vcr.bench[" + strconv.Itoa(i%benchItems) + "]", Value: strconv.Itoa(i)}
		fmt.Fprintf(&file, "%s %s %s\n", values[i].Host, values[i].Key, values[i].Value)
	}
	input := filepath.Join(b.TempDir(), "values")
	if err := os.WriteFile(input, []byte(file.String()), 0o644); err != nil {
		b.Fatal(err)
	}

	s := &Sender{Addr: trapper}
	ctx := context.Background()
	ours := func() time.Duration {
		start := time.Now()
		res, err := s.Send(ctx, values)
		d := time.Since(start)
		if err != nil || res.Processed != benchValues {
			b.Fatalf("Sender: %+v, %v", res, err)
		}
		return d
	}
	theirs := func() time.Duration {
		start := time.Now()
		out, err := exec.Command(zs, "-z", addr, "-p", port, "-i", input).CombinedOutput()
		d := time.Since(start)
		if err != nil || !strings.Contains(string(out), fmt.Sprintf("sent: %d; skipped: 0; total: %d", benchValues, benchValues)) {
			b.Fatalf("zabbix_sender: %v\n%s", err, out)
		}
		return d
	}
	// Warm-up: Sender learns that every pair is accepted (its first batches go per
	// host), zabbix_sender's binary gets into the page cache.
	ours()
	theirs()

	var oursTotal, theirsTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			oursTotal += ours()
			theirsTotal += theirs()
		} else {
			theirsTotal += theirs()
			oursTotal += ours()
		}
	}
	b.StopTimer()
	n := float64(b.N * benchValues)
	oursRate, theirsRate := n/oursTotal.Seconds(), n/theirsTotal.Seconds()
	b.ReportMetric(oursRate, "sender-values/s")
	b.ReportMetric(theirsRate, "zabbix_sender-values/s")
	b.ReportMetric(oursRate/theirsRate, "ratio")
	b.Logf("%d values x %d runs: Sender %.0f values/s (%.1f ms per 10k), zabbix_sender -i %.0f values/s (%.1f ms per 10k), ratio %.2f",
		benchValues, b.N, oursRate, oursTotal.Seconds()*1000/float64(b.N), theirsRate, theirsTotal.Seconds()*1000/float64(b.N), oursRate/theirsRate)
}
