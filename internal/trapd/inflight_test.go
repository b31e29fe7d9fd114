package trapd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/ratelog"
	"github.com/vcrcovery/vcrcovery/internal/spool"
	"github.com/vcrcovery/vcrcovery/internal/trapd/health"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

func stamped(n int, keys ...string) []zabbix.Value {
	var vs []zabbix.Value
	for i, k := range keys {
		vs = append(vs, zabbix.Value{Host: "hyp", Key: k, Value: "v", Clock: time.Unix(1700000000, int64(n*10+i))})
	}
	return vs
}

func keysOf(vs []zabbix.Value) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Key)
	}
	return out
}

// TestRecoverFlight: the batch a killed trapd left in the ledger is completed at the
// next start: what Zabbix's history or the spool's last batch holds is not sent
// again, the rest is spooled (sent first), and the follower resumes after the batch.
func TestRecoverFlight(t *testing.T) {
	after := json.RawMessage(`{"offset":42}`)
	batch := stamped(1, "a", "b", "c")
	errAPI := errors.New("api down")
	tests := []struct {
		name    string
		source  string
		settled uint64 // the follower's; the flight is number 1
		stored  []bool // nil: no API
		apiErr  error
		inSpool []zabbix.Value // the spool before the start
		peeked  bool           // the spool's head is the flight (a replay)
		// what the spool holds after recovery, oldest first, and the resume position
		wantSpool  [][]string
		wantResume bool
	}{
		{name: "delivered and saved", source: spool.FromIntake, settled: 1, stored: []bool{false, false, false}},
		{name: "history holds all", source: spool.FromIntake, stored: []bool{true, true, true}, wantResume: true},
		{name: "history holds none", source: spool.FromIntake, stored: []bool{false, false, false}, wantSpool: [][]string{{"a", "b", "c"}}, wantResume: true},
		{name: "history holds some", source: spool.FromIntake, stored: []bool{true, false, true}, wantSpool: [][]string{{"b"}}, wantResume: true},
		{name: "spooled before the crash", source: spool.FromIntake, stored: []bool{false, false, false}, inSpool: batch, wantSpool: [][]string{{"a", "b", "c"}}, wantResume: true},
		{name: "no API", source: spool.FromIntake, wantSpool: [][]string{{"a", "b", "c"}}, wantResume: true},
		{name: "API down", source: spool.FromIntake, stored: []bool{true, true, true}, apiErr: errAPI, wantSpool: [][]string{{"a", "b", "c"}}, wantResume: true},
		{name: "replay taken", source: spool.FromSpool, stored: []bool{true, true, true}, inSpool: batch, peeked: true},
		{name: "replay not taken", source: spool.FromSpool, stored: []bool{false, false, false}, inSpool: batch, peeked: true, wantSpool: [][]string{{"a", "b", "c"}}},
		{name: "replay partly taken", source: spool.FromSpool, stored: []bool{false, true, true}, inSpool: batch, peeked: true, wantSpool: [][]string{{"a"}}},
		{name: "replay acknowledged before", source: spool.FromSpool, stored: []bool{true, true, true}, inSpool: stamped(2, "x"), wantSpool: [][]string{{"x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			sp, err := spool.Open(filepath.Join(dir, "spool"), spool.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			if tt.inSpool != nil {
				if _, err := sp.Append(tt.inSpool); err != nil {
					t.Fatal(err)
				}
			}
			l, _, err := spool.OpenLedger(filepath.Join(dir, "inflight.json"))
			if err != nil {
				t.Fatal(err)
			}
			var a json.RawMessage
			if tt.source == spool.FromIntake {
				a = after
			}
			if _, err := l.Write(tt.source, batch, a); err != nil {
				t.Fatal(err)
			}
			_, flight, err := spool.OpenLedger(filepath.Join(dir, "inflight.json"))
			if err != nil {
				t.Fatal(err)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			d := &deliverer{spool: sp, counters: &health.Counters{}, log: log, limiter: ratelog.New(log, time.Minute),
				now: time.Now, ledger: l, syncLag: 50 * time.Millisecond}
			asked := 0
			if tt.stored != nil {
				d.stored = func(ctx context.Context, vs []zabbix.Value) ([]bool, error) {
					asked++
					if d := cmp.Diff(keysOf(batch), keysOf(vs)); tt.source == spool.FromIntake && tt.inSpool == nil && d != "" {
						t.Errorf("asked about (-want +got):\n%s", d)
					}
					return tt.stored[:len(vs)], tt.apiErr
				}
			}
			resume := d.recoverFlight(context.Background(), flight, tt.settled)
			if got := resume != nil; got != tt.wantResume {
				t.Errorf("resume = %s, want one: %v", resume, tt.wantResume)
			} else if resume != nil && string(resume) != string(after) {
				t.Errorf("resume = %s, want %s", resume, after)
			}
			var got [][]string
			for {
				vs, err := sp.Peek()
				if errors.Is(err, spool.ErrEmpty) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, keysOf(vs))
				if err := sp.Ack(); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.wantSpool, got); diff != "" {
				t.Errorf("spool after recovery (-want +got):\n%s", diff)
			}
			if tt.name == "spooled before the crash" && asked != 0 {
				t.Errorf("asked the API %d times about a batch the spool holds", asked)
			}
			if l.Last() < tt.settled {
				t.Errorf("ledger numbers restart at %d below the settled %d", l.Last(), tt.settled)
			}
		})
	}
}

// TestDeliverLostReply: the trapper takes a batch but its reply is lost. The
// deliverer asks history and sends nothing twice, live and when replaying; without
// the API it sends the batch again (at least once rather than lost).
func TestDeliverLostReply(t *testing.T) {
	for _, api := range []bool{true, false} {
		s := &fakeSender{}
		h := newDeliver(t, t.TempDir(), s)
		h.d.syncLag = 50 * time.Millisecond
		if api {
			h.d.stored = s.stored
		}
		s.mu.Lock()
		s.lose = 1
		s.mu.Unlock()
		h.put(0, "k")
		waitUntil(t, "first value taken", func() bool { return len(s.got()) >= 1 })
		// A replay whose reply is lost: the trapper is down for value 1 (spooled),
		// then takes the replay and the reply is lost.
		time.Sleep(100 * time.Millisecond)
		s.set(true)
		spooled := h.counters.Spooled.Load()
		h.put(1, "k")
		waitUntil(t, "value 1 spooled", func() bool { return h.counters.Spooled.Load() > spooled })
		s.mu.Lock()
		s.down, s.lose = false, 1
		s.mu.Unlock()
		h.put(2, "k")
		waitUntil(t, "all sent", func() bool { return h.sp.Values() == 0 && len(s.got()) >= 3 })
		h.shutdown(t)
		wantGot := want(0, 3, "k")
		if !api {
			wantGot = []string{"k=0", "k=0", "k=1", "k=1", "k=2"}
		}
		if diff := cmp.Diff(wantGot, s.got()); diff != "" {
			t.Errorf("api %v: what the trapper took (-want +got)\n%s", api, diff)
		}
	}
}

// TestHeldSurviveKill: values the server refuses for now (an item LLD has not created
// yet) are held for retry on disk too: a killed trapd's successor retries them, and
// the open ledger record that carried them does not spool them a second time.
func TestHeldSurviveKill(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func() (*deliverer, *spool.Flight, *spool.Flight) {
		sp, err := spool.Open(filepath.Join(dir, "spool"), spool.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sp.Close() })
		hl, heldLeft, err := spool.OpenLedger(filepath.Join(dir, "held.json"))
		if err != nil {
			t.Fatal(err)
		}
		l, flight, err := spool.OpenLedger(filepath.Join(dir, "inflight.json"))
		if err != nil {
			t.Fatal(err)
		}
		d := &deliverer{spool: sp, counters: &health.Counters{}, log: log, limiter: ratelog.New(log, time.Minute),
			batch: 100, rejectRetry: time.Hour, retryEvery: 10 * time.Millisecond, maxHeld: 100, now: time.Now,
			ledger: l, heldStore: hl, syncLag: 10 * time.Millisecond, in: make(chan item, 10)}
		return d, heldLeft, flight
	}
	// The first run: a batch of a known and a new item; the new one is refused and held.
	d, _, _ := open()
	d.heldPairs, d.accepted = map[pair]int{}, map[pair]time.Time{}
	vs := []zabbix.Value{
		{Host: "hyp", Key: "known", Value: "1", Clock: time.Now()},
		{Host: "hyp", Key: "new", Value: "5", Clock: time.Now()},
	}
	d.ledger.Write(spool.FromIntake, vs, json.RawMessage(`{"offset":1}`))
	d.hold(zabbix.Result{Rejected: vs[1:]})
	// The next batch is recorded (the ledger forgets the first one) and taken, and
	// trapd is killed before it learns so.
	next := []zabbix.Value{{Host: "hyp", Key: "known", Value: "2", Clock: time.Now()}}
	d.ledger.Write(spool.FromIntake, next, json.RawMessage(`{"offset":2}`))

	s := &fakeSender{}
	s.accepted = append(vs[:1:1], next...) // what the trapper took
	d2, heldLeft, flight := open()
	d2.sender, d2.stored = s, s.stored
	d2.loadHeld(heldLeft)
	if resume := d2.recoverFlight(context.Background(), flight, 0); resume == nil {
		t.Fatal("no position to resume from")
	}
	if n := d2.spool.Values(); n != 0 {
		t.Errorf("recovery spooled %d values; the open batch is in Zabbix", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d2.run(ctx) }()
	waitUntil(t, "the held value retried", func() bool { return len(s.got()) == 3 })
	cancel()
	<-done
	if diff := cmp.Diff([]string{"known=1", "known=2", "new=5"}, s.got()); diff != "" {
		t.Errorf("what the trapper took (-want +got)\n%s", diff)
	}
	if _, left, _ := spool.OpenLedger(filepath.Join(dir, "held.json")); left != nil && len(left.Values) != 0 {
		t.Errorf("held store after the retry: %v", left.Values)
	}
}
