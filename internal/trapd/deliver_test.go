package trapd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/ratelog"
	"github.com/vcrcovery/vcrcovery/internal/spool"
	"github.com/vcrcovery/vcrcovery/internal/trapd/health"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// fakeSender is a trapper that can be down or refuse some keys, and records what it
// accepted, in order. The real trapper is used by the lab tests in trapd/.
type fakeSender struct {
	mu       sync.Mutex
	down     bool
	lose     int             // replies to lose: the values are taken, the sender hears ErrUncertain
	refuse   map[string]bool // keys without an item
	accepted []zabbix.Value
	requests int
}

var errDown = errors.New("connect: connection refused")

func (f *fakeSender) Send(ctx context.Context, values []zabbix.Value) (zabbix.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if f.down || ctx.Err() != nil {
		return zabbix.Result{}, fmt.Errorf("send: %w", errDown)
	}
	var res zabbix.Result
	for _, v := range values {
		res.Total++
		if f.refuse[v.Key] {
			res.Failed++
			res.Rejected = append(res.Rejected, v)
			continue
		}
		res.Processed++
		f.accepted = append(f.accepted, v)
	}
	if f.lose > 0 {
		f.lose--
		return zabbix.Result{}, fmt.Errorf("read reply: %w", zabbix.ErrUncertain)
	}
	if res.Failed > 0 {
		return res, zabbix.ErrRejected
	}
	return res, nil
}

// stored is zabbix.API.Stored of this trapper: whether it took each value.
func (f *fakeSender) stored(ctx context.Context, values []zabbix.Value) ([]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	have := map[sameValue]bool{}
	for _, v := range f.accepted {
		have[same(v)] = true
	}
	out := make([]bool, len(values))
	for i, v := range values {
		out[i] = have[same(v)]
	}
	return out, nil
}

func (f *fakeSender) set(down bool, refuse ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
	f.refuse = map[string]bool{}
	for _, k := range refuse {
		f.refuse[k] = true
	}
}

func (f *fakeSender) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, v := range f.accepted {
		out = append(out, v.Key+"="+v.Value)
	}
	return out
}

type deliverHarness struct {
	d        *deliverer
	s        *fakeSender
	counters *health.Counters
	sp       *spool.Spool
	acked    sync.WaitGroup
	cancel   context.CancelFunc
	done     chan struct{}
}

func newDeliver(t *testing.T, dir string, s *fakeSender) *deliverHarness {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := &deliverHarness{s: s, counters: &health.Counters{}, sp: sp, done: make(chan struct{})}
	h.d = &deliverer{sender: s, spool: sp, counters: h.counters, log: log, limiter: ratelog.New(log, time.Minute),
		batch: 100, rejectRetry: time.Minute, retryEvery: 20 * time.Millisecond, maxHeld: 1000,
		in: make(chan item, 1000), now: time.Now}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		h.d.run(ctx)
	}()
	return h
}

// put queues one item of values k=n for the given keys.
func (h *deliverHarness) put(n int, keys ...string) {
	var vs []zabbix.Value
	for _, k := range keys {
		vs = append(vs, zabbix.Value{Host: "hyp", Key: k, Value: fmt.Sprint(n), Clock: time.Now()})
	}
	h.acked.Add(1)
	h.d.in <- item{values: vs, done: h.acked.Done}
}

// shutdown closes the queue and waits for the deliverer, as Server.Serve does.
func (h *deliverHarness) shutdown(t *testing.T) {
	t.Helper()
	close(h.d.in)
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.cancel()
		<-h.done
	}
	h.acked.Wait()
	h.sp.Close()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func want(from, to int, key string) []string {
	var out []string
	for n := from; n < to; n++ {
		out = append(out, fmt.Sprintf("%s=%d", key, n))
	}
	return out
}

func TestDeliverLiveInOrder(t *testing.T) {
	s := &fakeSender{}
	h := newDeliver(t, t.TempDir(), s)
	for n := 0; n < 500; n++ {
		h.put(n, "k")
	}
	h.shutdown(t)
	if diff := cmp.Diff(want(0, 500, "k"), s.got()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if h.counters.Sent.Load() != 500 || h.counters.Spooled.Load() != 0 {
		t.Errorf("sent %d spooled %d", h.counters.Sent.Load(), h.counters.Spooled.Load())
	}
	if s.requests >= 500 {
		t.Errorf("%d requests for 500 values: no batching", s.requests)
	}
}

// TestDeliverOutage: down in the middle of a stream; everything is spooled, then
// replayed in order, then live again.
func TestDeliverOutage(t *testing.T) {
	s := &fakeSender{}
	h := newDeliver(t, t.TempDir(), s)
	for n := 0; n < 100; n++ {
		h.put(n, "k")
	}
	waitUntil(t, "100 sent", func() bool { return len(s.got()) == 100 })
	s.set(true)
	for n := 100; n < 300; n++ {
		h.put(n, "k")
	}
	waitUntil(t, "200 spooled", func() bool { return h.counters.Spooled.Load() == 200 })
	s.set(false)
	for n := 300; n < 400; n++ {
		h.put(n, "k")
	}
	waitUntil(t, "all 400", func() bool { return len(s.got()) == 400 })
	h.shutdown(t)
	if diff := cmp.Diff(want(0, 400, "k"), s.got()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	c := h.counters
	if c.Sent.Load()+c.Replayed.Load() != 400 || c.Dropped.Load() != 0 {
		t.Errorf("sent %d replayed %d spooled %d dropped %d", c.Sent.Load(), c.Replayed.Load(), c.Spooled.Load(), c.Dropped.Load())
	}
}

// TestDeliverRestartWithSpool: values spooled by one deliverer are replayed by the
// next, before its own.
func TestDeliverRestartWithSpool(t *testing.T) {
	dir := t.TempDir()
	s := &fakeSender{}
	s.set(true)
	h := newDeliver(t, dir, s)
	for n := 0; n < 50; n++ {
		h.put(n, "k")
	}
	h.shutdown(t)
	if h.counters.Spooled.Load() != 50 {
		t.Fatalf("spooled %d", h.counters.Spooled.Load())
	}
	s.set(false)
	h2 := newDeliver(t, dir, s)
	for n := 50; n < 80; n++ {
		h2.put(n, "k")
	}
	waitUntil(t, "all 80", func() bool { return len(s.got()) == 80 })
	h2.shutdown(t)
	if diff := cmp.Diff(want(0, 80, "k"), s.got()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// TestDeliverRefusedThenCreated: values for an item that does not exist yet are held
// and sent once it does (LLD), in order.
func TestDeliverRefusedThenCreated(t *testing.T) {
	s := &fakeSender{}
	s.set(false, "new")
	h := newDeliver(t, t.TempDir(), s)
	for n := 0; n < 5; n++ {
		h.put(n, "new", "old")
	}
	waitUntil(t, "old values", func() bool { return len(s.got()) == 5 })
	s.set(false) // the item now exists
	waitUntil(t, "held values", func() bool { return len(s.got()) == 10 })
	h.shutdown(t)
	got := s.got()
	if diff := cmp.Diff(want(0, 5, "new"), got[5:]); diff != "" {
		t.Errorf("held values (-want +got)\n%s", diff)
	}
	if h.counters.Retried.Load() != 5 || h.counters.Dropped.Load() != 0 {
		t.Errorf("retried %d dropped %d", h.counters.Retried.Load(), h.counters.Dropped.Load())
	}
}

// TestDeliverHeldSpooledAtShutdown: refused values still held at shutdown go to the
// spool and are retried by the next run.
func TestDeliverHeldSpooledAtShutdown(t *testing.T) {
	dir := t.TempDir()
	s := &fakeSender{}
	s.set(false, "new")
	h := newDeliver(t, dir, s)
	h.put(1, "new")
	waitUntil(t, "a refusal", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.requests > 0
	})
	h.shutdown(t)
	if h.counters.Spooled.Load() != 1 {
		t.Fatalf("spooled %d, want the held value", h.counters.Spooled.Load())
	}
	s.set(false)
	h2 := newDeliver(t, dir, s)
	waitUntil(t, "the held value", func() bool { return len(s.got()) == 1 })
	h2.shutdown(t)
}

// TestDeliverRefusedTooLong: a value refused past its deadline is dropped and counted.
func TestDeliverRefusedTooLong(t *testing.T) {
	s := &fakeSender{}
	s.set(false, "gone")
	h := newDeliver(t, t.TempDir(), s)
	h.d.rejectRetry = 50 * time.Millisecond
	h.put(1, "gone")
	waitUntil(t, "the drop", func() bool { return h.counters.Dropped.Load() == 1 })
	h.shutdown(t)
	if h.counters.Spooled.Load() != 0 {
		t.Errorf("a dropped value was spooled")
	}
}
