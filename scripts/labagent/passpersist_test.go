package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib/guesttable"
)

var (
	uuidA = libvirtmib.UUID{0x6f, 0x1c, 0x8a, 0x52, 0x3e, 0x0b, 0x4d, 0x5e, 0x9a, 0x77, 0x0c, 0x1d, 0x2e, 0x3f, 0x4a, 0x01}
	uuidB = libvirtmib.UUID{0x6f, 0x1c, 0x8a, 0x52, 0x3e, 0x0b, 0x4d, 0x5e, 0x9a, 0x77, 0x0c, 0x1d, 0x2e, 0x3f, 0x4a, 0x02}
	// Listed out of order on purpose: rows are ordered by UUID.
	fakeGuests = []guesttable.Guest{
		{UUID: uuidB, Name: "web2", State: libvirtmib.StateShutoff, CPUs: 1, MemoryMiB: 64, MemoryMaxMiB: 64},
		{UUID: uuidA, Name: "web1", State: libvirtmib.StateRunning, CPUs: 2, MemoryMiB: 3, MemoryMaxMiB: 64, CPUTimeNanos: 18446744073709551615},
	}
)

const (
	idxA = ".111.28.138.82.62.11.77.94.154.119.12.29.46.63.74.1"
	idxB = ".111.28.138.82.62.11.77.94.154.119.12.29.46.63.74.2"
	col  = ".1.3.6.1.4.1.36957.1.1.1."
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// converse runs the protocol on the input lines and returns the output lines.
func converse(t *testing.T, guests []guesttable.Guest, in ...string) []string {
	t.Helper()
	tab := guesttable.New(guests)
	var out strings.Builder
	err := servePassPersist(context.Background(), discard(), func(context.Context) *guesttable.Table { return tab },
		strings.NewReader(strings.Join(in, "\n")+"\n"), &out)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

func TestPassPersist(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"ping", []string{"PING"}, []string{"PONG"}},
		{"get name", []string{"get", col + "2" + idxA}, []string{col + "2" + idxA, "string", "web1"}},
		{"get state", []string{"get", col + "3" + idxB}, []string{col + "3" + idxB, "integer", "5"}},
		{"get cpus", []string{"get", col + "4" + idxA}, []string{col + "4" + idxA, "gauge", "2"}},
		{"get memory", []string{"get", col + "5" + idxA}, []string{col + "5" + idxA, "gauge", "3"}},
		{"get memory limit", []string{"get", col + "6" + idxA}, []string{col + "6" + idxA, "gauge", "64"}},
		{"get cpu time", []string{"get", col + "7" + idxA}, []string{col + "7" + idxA, "counter64", "18446744073709551615"}},
		{"get cpu time shut off", []string{"get", col + "7" + idxB}, []string{col + "7" + idxB, "counter64", "0"}},
		{"get row status", []string{"get", col + "9" + idxB}, []string{col + "9" + idxB, "integer", "1"}},
		{"get without leading dot", []string{"get", strings.TrimPrefix(col, ".") + "2" + idxB}, []string{col + "2" + idxB, "string", "web2"}},
		{"get uuid column", []string{"get", col + "1" + idxA}, []string{"NONE"}},
		{"get column", []string{"get", col + "2"}, []string{"NONE"}},
		{"get unknown row", []string{"get", col + "2" + idxA + ".0"}, []string{"NONE"}},
		{"getnext from the registered root", []string{"getnext", ".1.3.6.1.4.1.36957.1.1"}, []string{col + "2" + idxA, "string", "web1"}},
		{"getnext within a column", []string{"getnext", col + "2" + idxA}, []string{col + "2" + idxB, "string", "web2"}},
		{"getnext to the next column", []string{"getnext", col + "2" + idxB}, []string{col + "3" + idxA, "integer", "1"}},
		{"getnext from a partial index", []string{"getnext", col + "7.111.28"}, []string{col + "7" + idxA, "counter64", "18446744073709551615"}},
		{"getnext skips column 8", []string{"getnext", col + "7" + idxB}, []string{col + "9" + idxA, "integer", "1"}},
		{"getnext after the last cell", []string{"getnext", col + "9" + idxB}, []string{"NONE"}},
		{"getnext past the table", []string{"getnext", ".1.3.6.1.4.1.36957.2"}, []string{"NONE"}},
		{"set", []string{"set", col + "3" + idxA, "integer 3"}, []string{"not-writable"}},
		{"bad oid", []string{"get", ".1.3.x"}, []string{"NONE"}},
		{"unknown command", []string{"walk"}, []string{"NONE"}},
		{"a session", []string{"PING", "get", col + "3" + idxA, "PING", "getnext", col + "9" + idxA},
			[]string{"PONG", col + "3" + idxA, "integer", "1", "PONG", col + "9" + idxB, "integer", "1"}},
		{"empty line ends", []string{"PING", "", "PING"}, []string{"PONG"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, converse(t, fakeGuests, tt.in...)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// TestPassPersistWalk walks the whole table with getnext, as snmpwalk makes snmpd do.
func TestPassPersistWalk(t *testing.T) {
	tab := guesttable.New(fakeGuests)
	var got []string
	oid, _ := libvirtmib.ParseOID(libvirtmib.GuestTable)
	for {
		c, ok := tab.Next(oid)
		if !ok {
			break
		}
		typ, val := passType(c)
		got = append(got, c.Name+" "+typ+" "+val)
		oid = c.OID
	}
	want := []string{
		col + "2" + idxA + " string web1", col + "2" + idxB + " string web2",
		col + "3" + idxA + " integer 1", col + "3" + idxB + " integer 5",
		col + "4" + idxA + " gauge 2", col + "4" + idxB + " gauge 1",
		col + "5" + idxA + " gauge 3", col + "5" + idxB + " gauge 64",
		col + "6" + idxA + " gauge 64", col + "6" + idxB + " gauge 64",
		col + "7" + idxA + " counter64 18446744073709551615", col + "7" + idxB + " counter64 0",
		col + "9" + idxA + " integer 1", col + "9" + idxB + " integer 1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestPassPersistEmptyTable(t *testing.T) {
	got := converse(t, nil, "getnext", ".1.3.6.1.4.1.36957.1.1", "get", col+"2"+idxA)
	if diff := cmp.Diff([]string{"NONE", "NONE"}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestNameOnOneLine(t *testing.T) {
	got := converse(t, []guesttable.Guest{{UUID: uuidA, Name: "a\nb"}}, "get", col+"2"+idxA)
	if diff := cmp.Diff([]string{col + "2" + idxA, "string", "a b"}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// countingSource returns its guests with CpuTime = number of reads.
type countingSource struct{ reads int }

func (s *countingSource) Guests(context.Context) ([]guesttable.Guest, error) {
	s.reads++
	return []guesttable.Guest{{UUID: uuidA, Name: "web1", CPUTimeNanos: uint64(s.reads)}}, nil
}

func TestCachedTable(t *testing.T) {
	now := time.Unix(1000, 0)
	src := &countingSource{}
	c := &guesttable.Cache{Load: loadLogged(discard(), src), TTL: 5 * time.Second, Now: func() time.Time { return now }}
	oid, _ := libvirtmib.ParseOID(col + "7" + idxA)
	read := func() string {
		tab, err := c.Table(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		cl, _ := tab.Get(oid)
		_, val := passType(cl)
		return val
	}
	var got []string
	for _, step := range []time.Duration{0, time.Second, 3999 * time.Millisecond, time.Millisecond, 4 * time.Second, 2 * time.Second} {
		now = now.Add(step)
		got = append(got, read())
	}
	// Read at 0, 1, 4.999 (cached), 5 (refresh), 9 (cached), 11 (refresh).
	if diff := cmp.Diff([]string{"1", "1", "1", "2", "2", "3"}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
