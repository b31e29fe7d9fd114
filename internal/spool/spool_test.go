package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

func batch(n, size int) []zabbix.Value {
	out := make([]zabbix.Value, size)
	for i := range out {
		out[i] = zabbix.Value{Host: "h", Key: fmt.Sprintf("k[%d]", i), Value: fmt.Sprintf("%d", n), Clock: time.Unix(1700000000, int64(n*1000+i))}
	}
	return out
}

func open(t *testing.T, dir string, o Options) *Spool {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendAll(t *testing.T, s *Spool, from, to, size int) {
	t.Helper()
	for n := from; n < to; n++ {
		if d, err := s.Append(batch(n, size)); err != nil || d != 0 {
			t.Fatalf("Append %d: dropped %d, %v", n, d, err)
		}
	}
}

// drain returns the first value of every batch, acknowledging each.
func drain(t *testing.T, s *Spool) []string {
	t.Helper()
	var got []string
	for {
		vs, err := s.Peek()
		if errors.Is(err, ErrEmpty) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, vs[0].Value)
		if err := s.Ack(); err != nil {
			t.Fatal(err)
		}
	}
}

func seq(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

func TestOrderAndValues(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	if _, err := s.Peek(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Peek of an empty spool: %v", err)
	}
	appendAll(t, s, 0, 5, 3)
	if s.Values() != 15 {
		t.Errorf("Values = %d, want 15", s.Values())
	}
	vs, err := s.Peek()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(batch(0, 3), vs, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("first batch (-want +got)\n%s", diff)
	}
	// Peek again without Ack: the same batch.
	if again, _ := s.Peek(); again[0].Value != "0" {
		t.Errorf("second Peek returned batch %s", again[0].Value)
	}
	if diff := cmp.Diff(seq(0, 5), drain(t, s)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if s.Values() != 0 {
		t.Errorf("Values after draining = %d", s.Values())
	}
	if err := s.Ack(); err == nil {
		t.Error("Ack without Peek: no error")
	}
}

// TestRestart: acknowledged batches stay gone, unacknowledged ones come back, in order.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 300})
	appendAll(t, s, 0, 20, 2)
	for i := 0; i < 7; i++ {
		if _, err := s.Peek(); err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	s.Peek() // peeked, not acknowledged: must come back
	s.Close()

	s2 := open(t, dir, Options{SegmentBytes: 300})
	if s2.Values() != 26 {
		t.Errorf("Values after restart = %d, want 26", s2.Values())
	}
	appendAll(t, s2, 20, 25, 2)
	if diff := cmp.Diff(seq(7, 25), drain(t, s2)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	s2.Close()
	// Drained: one empty segment and the cursor remain.
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(names) != 1 {
		t.Errorf("segments left after draining: %v", names)
	}
	s3 := open(t, dir, Options{SegmentBytes: 300})
	if got := drain(t, s3); len(got) != 0 {
		t.Errorf("batches after draining and reopening: %v", got)
	}
}

// TestTornAppend: a record cut short by a crash is dropped at Open; the rest survives.
func TestTornAppend(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	appendAll(t, s, 0, 3, 2)
	s.Close()
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(names) != 1 {
		t.Fatalf("segments: %v", names)
	}
	f, err := os.OpenFile(names[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 0, 50, 1, 2, 3, 4, '[', '{'}) // a header and half a payload
	f.Close()

	s2 := open(t, dir, Options{})
	appendAll(t, s2, 3, 5, 2)
	if diff := cmp.Diff(seq(0, 5), drain(t, s2)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// TestBound: past MaxBytes the oldest segments go, counted; the newest stay in order.
func TestBound(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxBytes: 2000, SegmentBytes: 500})
	dropped := 0
	for n := 0; n < 100; n++ {
		d, err := s.Append(batch(n, 1))
		if err != nil {
			t.Fatal(err)
		}
		dropped += d
	}
	if s.Bytes() > 2000 {
		t.Errorf("spool holds %d bytes, bound 2000", s.Bytes())
	}
	got := drain(t, s)
	if dropped+len(got) != 100 {
		t.Errorf("dropped %d + kept %d != 100", dropped, len(got))
	}
	if diff := cmp.Diff(seq(100-len(got), 100), got); diff != "" {
		t.Errorf("kept batches (-want +got)\n%s", diff)
	}
	if dropped == 0 {
		t.Error("nothing dropped")
	}
}

// TestDropWhileReading: dropping the segment being replayed moves the cursor on.
func TestDropWhileReading(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxBytes: 1000, SegmentBytes: 300})
	appendAll(t, s, 0, 3, 1)
	if vs, err := s.Peek(); err != nil || vs[0].Value != "0" {
		t.Fatalf("Peek: %v %v", vs, err)
	}
	dropped := 0
	for n := 3; n < 30; n++ {
		d, err := s.Append(batch(n, 1))
		if err != nil {
			t.Fatal(err)
		}
		dropped += d
	}
	got := drain(t, s)
	if dropped+len(got) != 30 || got[len(got)-1] != "29" {
		t.Errorf("dropped %d, then read %v", dropped, got)
	}
}

func TestConcurrent(t *testing.T) {
	s := open(t, t.TempDir(), Options{SegmentBytes: 1000})
	const n = 300
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if _, err := s.Append(batch(i, 2)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		vs, err := s.Peek()
		if errors.Is(err, ErrEmpty) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, vs[0].Value)
		if err := s.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if diff := cmp.Diff(seq(0, n), got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
