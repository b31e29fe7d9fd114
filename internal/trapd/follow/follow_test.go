package follow

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/trapd/health"
	"github.com/vcrcovery/vcrcovery/internal/trapd/trap"
)

// record is one trap as snmptrapd logs it (default format, -On), the guest named n.
func record(n int) string { return lab.TrapLogRecord("g" + strconv.Itoa(n)) }

func appendTo(t *testing.T, name string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for n := from; n < to; n++ {
		if _, err := f.WriteString(record(n)); err != nil {
			t.Fatal(err)
		}
	}
}

func seq(from, to int) []string {
	var out []string
	for n := from; n < to; n++ {
		out = append(out, "g"+strconv.Itoa(n))
	}
	return out
}

// run is a Follower running in the background; ack decides whether a record is
// acknowledged (nil: all are).
type run struct {
	f        *Follower
	counters *health.Counters
	mu       sync.Mutex
	got      []string
	seqs     map[string]uint64
	cancel   context.CancelFunc
	done     chan struct{}
}

func follow(t *testing.T, dir string, o Options, ack func(name string) bool) *run {
	t.Helper()
	r := &run{counters: &health.Counters{}, done: make(chan struct{}), seqs: map[string]uint64{}}
	if o.Path == "" {
		o.Path = filepath.Join(dir, "snmptrapd.log")
	}
	o.StateFile = filepath.Join(dir, "state", "follow.json")
	o.Counters = r.counters
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	o.Poll = 50 * time.Millisecond
	o.Handle = func(tr trap.Trap, seq uint64, done func()) {
		v, _ := tr.Var(libvirtmib.NotifName)
		name := string(v.Bytes)
		r.mu.Lock()
		r.got = append(r.got, name)
		r.seqs[name] = seq
		r.mu.Unlock()
		if ack == nil || ack(name) {
			done()
		}
	}
	f, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	r.f = f
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		if err := f.Serve(ctx); err != nil {
			t.Error(err)
		}
	}()
	return r
}

// stop ends Serve and saves the position, as trapd does at shutdown.
func (r *run) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	<-r.done
	if err := r.f.Close(); err != nil {
		t.Fatal(err)
	}
}

func (r *run) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func (r *run) wait(t *testing.T, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.names()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond) // nothing more may come
	if diff := cmp.Diff(want, r.names()); diff != "" {
		t.Fatalf("records handed on (-want +got)\n%s", diff)
	}
}

func TestStartAtEndThenFollow(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "snmptrapd.log")
	appendTo(t, log, 0, 3) // history: not handed on
	r := follow(t, dir, Options{}, nil)
	defer r.stop(t)
	appendTo(t, log, 3, 8)
	r.wait(t, seq(3, 8))
}

func TestFromStart(t *testing.T) {
	dir := t.TempDir()
	appendTo(t, filepath.Join(dir, "snmptrapd.log"), 0, 3)
	r := follow(t, dir, Options{FromStart: true}, nil)
	defer r.stop(t)
	r.wait(t, seq(0, 3))
}

// TestResume: a restart neither re-sends nor skips, including records written while
// trapd was down; unacknowledged records come again.
func TestResume(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "snmptrapd.log")
	appendTo(t, log, 0, 1)
	r := follow(t, dir, Options{}, nil)
	appendTo(t, log, 1, 5)
	r.wait(t, seq(1, 5))
	r.stop(t)

	appendTo(t, log, 5, 8) // while down
	r2 := follow(t, dir, Options{}, func(name string) bool { return name != "g9" })
	appendTo(t, log, 8, 11)
	r2.wait(t, seq(5, 11))
	r2.stop(t) // g9 was never acknowledged: the position stays before it

	r3 := follow(t, dir, Options{}, nil)
	defer r3.stop(t)
	r3.wait(t, seq(9, 11))
}

// TestResumeFromLedger: records delivered but never acknowledged (trapd killed
// before it saved the position) are not handed on again when the next start resumes
// from the position After gave for the last of them; Settle's number is saved with
// the position.
func TestResumeFromLedger(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "snmptrapd.log")
	appendTo(t, log, 0, 1)
	r := follow(t, dir, Options{}, func(string) bool { return false })
	appendTo(t, log, 1, 6)
	r.wait(t, seq(1, 6))
	r.mu.Lock()
	s3 := r.seqs["g3"]
	r.mu.Unlock()
	pos, err := r.f.After(s3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.f.After(s3 + 100); err == nil {
		t.Error("After of a record never handed on: no error")
	}
	r.stop(t) // nothing acknowledged: the saved position is still before g1

	r2 := follow(t, dir, Options{Resume: pos}, nil)
	r2.wait(t, seq(4, 6))
	r2.f.Settle(7)
	deadline := time.Now().Add(5 * time.Second)
	for n, _ := Settled(filepath.Join(dir, "state", "follow.json")); n != 7; n, _ = Settled(filepath.Join(dir, "state", "follow.json")) {
		if time.Now().After(deadline) {
			t.Fatalf("Settled = %d; want 7 saved by the saver", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r2.stop(t)
	r3 := follow(t, dir, Options{}, nil)
	defer r3.stop(t)
	appendTo(t, log, 6, 7)
	r3.wait(t, seq(6, 7))
	if n, _ := Settled(filepath.Join(dir, "state", "follow.json")); n != 7 {
		t.Errorf("Settled after a restart = %d; want 7 kept", n)
	}
}

// TestRotation: rename + new file while following; snmptrapd keeps writing the old
// file until it reopens its log.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "snmptrapd.log")
	appendTo(t, log, 0, 1)
	r := follow(t, dir, Options{}, nil)
	defer r.stop(t)
	appendTo(t, log, 1, 3)
	r.wait(t, seq(1, 3))
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, log+".1", 3, 5) // the old descriptor still writes
	time.Sleep(100 * time.Millisecond)
	if err := os.WriteFile(log, nil, 0o644); err != nil { // logrotate "create"
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	appendTo(t, log, 5, 8) // reopened (SIGHUP)
	r.wait(t, seq(1, 8))
}

// TestRotationWhileDown: the rotated file's tail is read after a restart, then the new file.
func TestRotationWhileDown(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "snmptrapd.log")
	appendTo(t, log, 0, 1)
	r := follow(t, dir, Options{}, nil)
	appendTo(t, log, 1, 3)
	r.wait(t, seq(1, 3))
	r.stop(t)
	appendTo(t, log, 3, 5)
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, log, 5, 7)
	r2 := follow(t, dir, Options{}, nil)
	defer r2.stop(t)
	r2.wait(t, seq(3, 7))
}

func TestTruncation(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "snmptrapd.log")
	appendTo(t, log, 0, 1)
	r := follow(t, dir, Options{}, nil)
	defer r.stop(t)
	appendTo(t, log, 1, 4)
	r.wait(t, seq(1, 4))
	if err := os.Truncate(log, 0); err != nil { // copytruncate
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	appendTo(t, log, 4, 6)
	r.wait(t, seq(1, 6))
}

// TestTruncatedWhileDown: truncated and regrown past the saved offset while trapd was
// down: the fingerprint tells, and the file is read from its start.
func TestTruncatedWhileDown(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "snmptrapd.log")
	appendTo(t, log, 0, 1)
	r := follow(t, dir, Options{}, nil)
	appendTo(t, log, 1, 3)
	r.wait(t, seq(1, 3))
	r.stop(t)
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, log, 10, 16)
	r2 := follow(t, dir, Options{}, nil)
	defer r2.stop(t)
	r2.wait(t, seq(10, 16))
}

// TestPartialAndMalformed: half a record waits for its rest; junk is counted and
// passed over.
func TestPartialAndMalformed(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "snmptrapd.log")
	appendTo(t, log, 0, 1)
	r := follow(t, dir, Options{}, nil)
	defer r.stop(t)
	rec := record(1)
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(rec[:len(rec)/2])
	time.Sleep(200 * time.Millisecond)
	if got := r.names(); len(got) != 0 {
		t.Fatalf("half a record handed on: %v", got)
	}
	f.WriteString(rec[len(rec)/2:])
	f.WriteString("this is not a trap\n")
	f.WriteString(record(2))
	r.wait(t, seq(1, 3))
	if m := r.counters.Malformed.Load(); m != 1 {
		t.Errorf("malformed = %d, want 1", m)
	}
	if n := r.counters.Received.Load(); n != 3 {
		t.Errorf("received = %d, want 3", n)
	}
}

// TestLogAppears: the log does not exist yet at start, nor at a restart.
func TestLogAppears(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "snmptrapd.log")
	r := follow(t, dir, Options{}, nil)
	r.stop(t)
	appendTo(t, log, 0, 2) // appears while trapd is down
	r2 := follow(t, dir, Options{}, nil)
	defer r2.stop(t)
	appendTo(t, log, 2, 3)
	r2.wait(t, seq(0, 3))
}

func TestLogAppearsWhileRunning(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "snmptrapd.log")
	r := follow(t, dir, Options{}, nil)
	time.Sleep(100 * time.Millisecond)
	appendTo(t, log, 0, 2)
	r.wait(t, seq(0, 2))
	r.stop(t)
	appendTo(t, log, 2, 3)
	r2 := follow(t, dir, Options{}, nil)
	defer r2.stop(t)
	r2.wait(t, seq(2, 3))
}

func TestClockIncreases(t *testing.T) {
	f := &Follower{}
	sec := time.Now().Add(-time.Hour).Truncate(time.Second)
	a, b := f.clock(sec), f.clock(sec)
	if !b.After(a) || a.Before(sec) {
		t.Errorf("two records of one logged second: %v then %v", a, b)
	}
	now := time.Now().Truncate(time.Second)
	c := f.clock(now)
	if !c.After(b) || c.Sub(now) < 0 {
		t.Errorf("a fresh record: %v", c)
	}
	d := f.clock(now)
	if !d.After(c) {
		t.Errorf("a second fresh record of the same second: %v after %v", d, c)
	}
}

// TestTruncatedAndRegrown: truncated and at once regrown past the read offset before
// the follower looks: its first bytes changed, so it starts over.
func TestTruncatedAndRegrown(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "snmptrapd.log")
	appendTo(t, log, 0, 1)
	r := follow(t, dir, Options{Poll: time.Hour}, nil)
	defer r.stop(t)
	appendTo(t, log, 1, 3)
	r.wait(t, seq(1, 3))
	// Rewrite in one go, longer than before, with other first bytes.
	var b []byte
	for n := 10; n < 16; n++ {
		b = append(b, record(n)...)
	}
	b = append([]byte("NET-SNMP version 5.9.3 restarted\n"), b...)
	if err := os.WriteFile(log, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r.wait(t, append(seq(1, 3), seq(10, 16)...))
}
