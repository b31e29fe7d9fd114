package spool

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLedger: a record survives a restart with its values to the nanosecond, its
// source and the intake's position; numbers keep growing across restarts; a broken
// ledger file is an error that names it.
func TestLedger(t *testing.T) {
	file := filepath.Join(t.TempDir(), "inflight.json")
	l, left, err := OpenLedger(file)
	if err != nil || left != nil || l.Last() != 0 {
		t.Fatalf("fresh ledger: %v %v %d", left, err, l.Last())
	}
	if _, err := l.Write(FromIntake, batch(1, 3), json.RawMessage(`{"offset":1}`)); err != nil {
		t.Fatal(err)
	}
	n, err := l.Write(FromSpool, batch(2, 2), nil)
	if err != nil || n != 2 {
		t.Fatalf("second record: %d %v", n, err)
	}
	l2, left, err := OpenLedger(file)
	if err != nil || left == nil {
		t.Fatalf("reopen: %v %v", left, err)
	}
	if left.N != 2 || left.Source != FromSpool || left.After != nil || left.At.IsZero() {
		t.Errorf("record left: %+v", left)
	}
	if d := cmp.Diff(batch(2, 2), left.Values); d != "" {
		t.Errorf("values (-want +got):\n%s", d)
	}
	l2.SetLast(10)
	if n, err := l2.Write(FromIntake, batch(3, 1), json.RawMessage(`{"offset":9}`)); err != nil || n != 11 {
		t.Errorf("after SetLast(10): record %d, %v", n, err)
	}
	if _, left, _ := OpenLedger(file); string(left.After) != `{"offset":9}` {
		t.Errorf("after = %s", left.After)
	}
	if err := os.WriteFile(file, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenLedger(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("broken ledger: %v", err)
	}
}

// TestLast: the newest batch on disk, also once acknowledged, and after a restart.
func TestLast(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 300})
	if v, err := s.Last(); v != nil || err != nil {
		t.Fatalf("empty spool: %v %v", v, err)
	}
	appendAll(t, s, 0, 5, 3) // several segments
	for _, step := range []string{"appended", "acknowledged", "reopened"} {
		switch step {
		case "acknowledged":
			if _, err := s.Peek(); err != nil {
				t.Fatal(err)
			}
			if err := s.Ack(); err != nil {
				t.Fatal(err)
			}
		case "reopened":
			s.Close()
			s = open(t, dir, Options{SegmentBytes: 300})
		}
		got, err := s.Last()
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(batch(4, 3), got); d != "" {
			t.Errorf("%s: Last (-want +got):\n%s", step, d)
		}
	}
}
