package trapd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/ratelog"
	"github.com/vcrcovery/vcrcovery/internal/spool"
	"github.com/vcrcovery/vcrcovery/internal/trapd/follow"
	"github.com/vcrcovery/vcrcovery/internal/trapd/health"
	"github.com/vcrcovery/vcrcovery/internal/trapd/trap"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// BenchmarkFollowDelivery: what the ledger costs in follow mode. Records of a log
// file go through the follower and the deliverer to a trapper that answers at once,
// with and without the ledger (a record and a position save per batch, both
// fsync'd), on this machine's disk; reported as records per second. Records arrive
// as a burst (the whole log at once) and as a stream (one record at a time, each
// waiting for the one before: every batch holds one record, the ledger's worst case).
func BenchmarkFollowDelivery(b *testing.B) {
	for _, mode := range []string{"burst", "stream"} {
		for _, withLedger := range []bool{false, true} {
			name := mode + "/no-ledger"
			if withLedger {
				name = mode + "/ledger"
			}
			b.Run(name, func(b *testing.B) {
				n := 5000
				if mode == "stream" {
					n = 300
				}
				var total time.Duration
				for i := 0; i < b.N; i++ {
					total += followDelivery(b, n, mode == "stream", withLedger)
				}
				b.ReportMetric(float64(n*b.N)/total.Seconds(), "records/s")
			})
		}
	}
}

func followDelivery(b *testing.B, n int, stream, withLedger bool) time.Duration {
	b.Helper()
	dir := b.TempDir()
	logFile := filepath.Join(dir, "snmptrapd.log")
	if err := os.WriteFile(logFile, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(dir, "spool"), spool.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	in := make(chan item, 65536)
	var done atomic.Int64
	f, err := follow.Open(follow.Options{Path: logFile, StateFile: filepath.Join(dir, "follow.json"), FromStart: true,
		Counters: &health.Counters{}, Log: log, Poll: 10 * time.Millisecond,
		Handle: func(t trap.Trap, seq uint64, ack func()) {
			v := zabbix.Value{Host: "hyp", Key: "k", Value: "v", Clock: t.Received}
			in <- item{values: []zabbix.Value{v}, seq: seq, logged: true, done: func() { ack(); done.Add(1) }}
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	d := &deliverer{sender: &fakeSender{}, spool: sp, counters: &health.Counters{}, log: log, limiter: ratelog.New(log, time.Minute),
		batch: 1000, rejectRetry: time.Minute, retryEvery: time.Second, maxHeld: 1000, in: in, now: time.Now, syncLag: time.Second}
	if withLedger {
		l, _, err := spool.OpenLedger(filepath.Join(dir, "inflight.json"))
		if err != nil {
			b.Fatal(err)
		}
		d.ledger, d.intake = l, f
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Serve(ctx)
	go d.run(ctx)
	rec := lab.TrapLogRecord("g0")
	w, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	start := time.Now()
	if stream {
		for i := 0; i < n; i++ {
			w.WriteString(rec)
			for done.Load() <= int64(i) {
				time.Sleep(50 * time.Microsecond)
			}
		}
	} else {
		w.WriteString(strings.Repeat(rec, n))
	}
	for done.Load() < int64(n) {
		if time.Since(start) > time.Minute {
			b.Fatal(fmt.Sprintf("%d of %d records delivered in a minute", done.Load(), n))
		}
		time.Sleep(100 * time.Microsecond)
	}
	return time.Since(start)
}
