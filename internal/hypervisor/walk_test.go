package hypervisor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor/hypervisortest"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// fakeGuests are three rows in UUID order, shaped like the lab's.
var fakeGuests = []hypervisortest.Guest{
	{UUID: uuid(1), Name: "web1", State: libvirtmib.StateRunning, CPUs: 1, MemoryMiB: 40, MemoryMaxMiB: 64, CPUTimeNanos: 24_497_501},
	{UUID: uuid(2), Name: "web2", State: libvirtmib.StateShutoff, CPUs: 2, MemoryMiB: 0, MemoryMaxMiB: 64, CPUTimeNanos: 0},
	{UUID: uuid(3), Name: "db", State: libvirtmib.StatePaused, CPUs: 4, MemoryMiB: 1024, MemoryMaxMiB: 2048, CPUTimeNanos: 1 << 62},
}

func uuid(n byte) libvirtmib.UUID {
	return libvirtmib.UUID{0x6f, 0x1c, 0x8a, 0x52, 0x3e, 0x0b, 0x4d, 0x5e, 0x9a, 0x77, 0x0c, 0x1d, 0x2e, 0x3f, 0x4a, n}
}

func wantGuests(gs []hypervisortest.Guest) []Guest {
	var out []Guest
	for _, g := range gs {
		out = append(out, Guest{UUID: g.UUID, Name: g.Name, State: g.State, VCPUs: g.CPUs, MemoryMiB: g.MemoryMiB, CPUTime: g.CPUTimeNanos})
	}
	return out
}

// dialFake starts a fake agent serving guests and dials it as an inventory hypervisor.
func dialFake(t testing.TB, guests []hypervisortest.Guest, timeout time.Duration, retries int) (*hypervisortest.Agent, *Agent) {
	t.Helper()
	fa, err := hypervisortest.Start("fake-community", guests)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fa.Close() })
	_, h := fakeInventory(t, fa, timeout, retries)
	a, err := Dial(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return fa, a
}

// fakeInventory is an inventory with one v2c hypervisor "fake" at the fake agent.
func fakeInventory(t testing.TB, fa *hypervisortest.Agent, timeout time.Duration, retries int) (*config.Inventory, *config.Hypervisor) {
	t.Helper()
	h, err := fa.Hypervisor(t.TempDir(), "fake")
	if err != nil {
		t.Fatal(err)
	}
	h.Timeout, h.Retries = timeout, retries
	inv := &config.Inventory{Hypervisors: []config.Hypervisor{h}}
	return inv, &inv.Hypervisors[0]
}

func TestWalkGuests(t *testing.T) {
	fa, a := dialFake(t, fakeGuests, time.Second, 0)
	for _, reps := range []int{1, 2, 3, 25, 200} {
		before := fa.Requests()
		w, err := a.WalkGuests(context.Background(), WalkOptions{MaxRepetitions: reps})
		if err != nil {
			t.Fatalf("max-repetitions %d: %v", reps, err)
		}
		if diff := cmp.Diff(wantGuests(fakeGuests), w.Guests); diff != "" {
			t.Errorf("max-repetitions %d: (-want +got)\n%s", reps, diff)
		}
		if w.Partial != 0 || int64(w.Requests) != fa.Requests()-before {
			t.Errorf("max-repetitions %d: partial %d, requests %d (agent saw %d)", reps, w.Partial, w.Requests, fa.Requests()-before)
		}
		// Three rows and the end of each column: 3 requests of 1 row, 1 of 25.
		t.Logf("max-repetitions %d: %d requests", reps, w.Requests)
	}
}

// TestWalkEmptyTable: an agent that serves the table without rows (endOfMibView) is an
// agent without guests, not ErrNoTable.
func TestWalkEmptyTable(t *testing.T) {
	_, a := dialFake(t, nil, time.Second, 0)
	w, err := a.WalkGuests(context.Background(), WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Guests) != 0 || w.Partial != 0 {
		t.Fatalf("empty table walked as %+v", w)
	}
}

func TestWalkLargeTable(t *testing.T) {
	gs := hypervisortest.Synthetic(2500, time.Minute)
	_, a := dialFake(t, gs, 2*time.Second, 0)
	w, err := a.WalkGuests(context.Background(), WalkOptions{MaxRepetitions: 50})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantGuests(gs), w.Guests); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}

// TestWalkFaults: every way an agent misbehaves ends the walk with an error that says
// so, within the request timeout and retries; none hangs or panics.
func TestWalkFaults(t *testing.T) {
	tests := []struct {
		fault   hypervisortest.Fault
		bad     bool   // errors.Is(err, ErrBadAnswer)
		errText string // part of the message
	}{
		{hypervisortest.Silent, false, "timeout"},
		{hypervisortest.Garbage, false, ""},
		{hypervisortest.WrongType, true, "libvirtGuestCpuTime of 6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01: value of type OctetString, want Counter64"},
		{hypervisortest.MissingColumn, true, "column libvirtGuestCpuTime is missing"},
		{hypervisortest.NonIncreasing, true, "OID not increasing"},
		{hypervisortest.ErrorStatus, true, "error status GenErr"},
		{hypervisortest.Endless, true, "more than 100 rows"},
		{hypervisortest.NoTable, false, "libvirtGuestName answered noSuchObject: no libvirtGuestTable"},
	}
	for _, tt := range tests {
		t.Run(faultName(tt.fault), func(t *testing.T) {
			fa, a := dialFake(t, fakeGuests, 150*time.Millisecond, 1)
			fa.SetFault(tt.fault)
			_, err := a.WalkGuests(context.Background(), WalkOptions{MaxRepetitions: 10, MaxGuests: 100})
			if err == nil {
				t.Fatal("no error")
			}
			if tt.fault == hypervisortest.NoTable && !errors.Is(err, ErrNoTable) {
				t.Errorf("err = %v; want ErrNoTable", err)
			}
			if errors.Is(err, ErrBadAnswer) != tt.bad || !strings.Contains(err.Error(), tt.errText) {
				t.Fatalf("err = %v; want ErrBadAnswer %v and %q", err, tt.bad, tt.errText)
			}
			if !strings.Contains(err.Error(), "walk libvirtGuestTable of fake") {
				t.Errorf("err = %v: does not name what was being done", err)
			}
		})
	}
}

func faultName(f hypervisortest.Fault) string {
	return [...]string{"none", "silent", "garbage", "wrong-type", "missing-column", "non-increasing", "error-status", "endless", "no-table"}[f]
}

func TestWalkObeysContext(t *testing.T) {
	fa, a := dialFake(t, fakeGuests, 10*time.Second, 3)
	fa.SetFault(hypervisortest.Silent)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := a.WalkGuests(ctx, WalkOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

func TestCPUTimes(t *testing.T) {
	_, a := dialFake(t, fakeGuests, time.Second, 0)
	got, err := a.CPUTimes(context.Background(), []libvirtmib.UUID{uuid(3), uuid(9), uuid(1)})
	if err != nil {
		t.Fatal(err)
	}
	want := []CPUTimeCell{{Value: 1 << 62, OK: true}, {}, {Value: 24_497_501, OK: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}

func TestCPUTimesWrongType(t *testing.T) {
	fa, a := dialFake(t, fakeGuests, time.Second, 0)
	fa.SetFault(hypervisortest.WrongType)
	if _, err := a.CPUTimes(context.Background(), []libvirtmib.UUID{uuid(1)}); !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("err = %v, want ErrBadAnswer", err)
	}
}

func pdu(col libvirtmib.Column, u libvirtmib.UUID, typ gosnmp.Asn1BER, v any) gosnmp.SnmpPDU {
	return gosnmp.SnmpPDU{Name: col.Cell(u), Type: typ, Value: v}
}

// TestTableWalkAbsorb feeds answers directly: truncated answers, rows that only some
// columns have (the table changed during the walk), the end of each column.
func TestTableWalkAbsorb(t *testing.T) {
	cols := []libvirtmib.Column{libvirtmib.ColumnName, libvirtmib.ColumnCPUTime}
	tw := newTableWalk(cols, 10)
	oids, idx := tw.pending()
	if diff := cmp.Diff([]string{libvirtmib.ColumnName.OID(), libvirtmib.ColumnCPUTime.OID()}, oids); diff != "" {
		t.Fatalf("first request (-want +got)\n%s", diff)
	}
	// Truncated after three variables: row 1 in both, row 2 only in Name.
	if err := tw.absorb(idx, []gosnmp.SnmpPDU{
		pdu(libvirtmib.ColumnName, uuid(1), gosnmp.OctetString, []byte("a")),
		pdu(libvirtmib.ColumnCPUTime, uuid(1), gosnmp.Counter64, uint64(10)),
		pdu(libvirtmib.ColumnName, uuid(2), gosnmp.OctetString, []byte("b")),
	}); err != nil {
		t.Fatal(err)
	}
	oids, idx = tw.pending()
	if diff := cmp.Diff([]string{libvirtmib.ColumnName.Cell(uuid(2)), libvirtmib.ColumnCPUTime.Cell(uuid(1))}, oids); diff != "" {
		t.Fatalf("second request (-want +got)\n%s", diff)
	}
	// Name ends (next column's first cell); CpuTime skips row 2 (undefined meanwhile),
	// has row 3, then the table's end.
	if err := tw.absorb(idx, []gosnmp.SnmpPDU{
		pdu(libvirtmib.ColumnState, uuid(1), gosnmp.Integer, 1),
		pdu(libvirtmib.ColumnCPUTime, uuid(3), gosnmp.Counter64, uint64(30)),
		pdu(libvirtmib.ColumnState, uuid(2), gosnmp.Integer, 1),
		{Name: ".1.3.6.1.4.1.36957.1.1.1.9.1", Type: gosnmp.Integer, Value: 1},
	}); err != nil {
		t.Fatal(err)
	}
	if oids, _ := tw.pending(); len(oids) != 0 {
		t.Fatalf("pending after the end: %v", oids)
	}
	w, err := tw.result()
	if err != nil {
		t.Fatal(err)
	}
	want := Walk{Guests: []Guest{{UUID: uuid(1), Name: "a", CPUTime: 10}}, Partial: 2}
	if diff := cmp.Diff(want, w); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}

func TestTableWalkErrors(t *testing.T) {
	cols := []libvirtmib.Column{libvirtmib.ColumnState, libvirtmib.ColumnCPUCount}
	tests := []struct {
		name string
		vars []gosnmp.SnmpPDU
		want string
	}{
		{"empty answer", nil, "empty answer"},
		{"backwards", []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(1)}}, "OID not increasing"},
		{"short index", []gosnmp.SnmpPDU{{Name: libvirtmib.ColumnState.OID() + ".1.2.3", Type: gosnmp.Integer, Value: 1}}, "want 16 sub-identifiers"},
		{"index with length prefix", []gosnmp.SnmpPDU{{Name: libvirtmib.ColumnState.OID() + ".16" + uuid(1).Index(), Type: gosnmp.Integer, Value: 1}}, "want 16 sub-identifiers"},
		{"octet out of range", []gosnmp.SnmpPDU{{Name: libvirtmib.ColumnState.OID() + strings.Replace(uuid(1).Index(), ".111.", ".256.", 1), Type: gosnmp.Integer, Value: 1}}, "not an octet"},
		{"state as string", []gosnmp.SnmpPDU{pdu(libvirtmib.ColumnState, uuid(1), gosnmp.OctetString, []byte("1"))}, "want INTEGER"},
		{"cpu count as counter", []gosnmp.SnmpPDU{pdu(libvirtmib.ColumnState, uuid(1), gosnmp.Integer, 1), pdu(libvirtmib.ColumnCPUCount, uuid(1), gosnmp.Counter32, uint(1))}, "want Gauge32"},
		{"cpu count too big", []gosnmp.SnmpPDU{pdu(libvirtmib.ColumnState, uuid(1), gosnmp.Integer, 1), pdu(libvirtmib.ColumnCPUCount, uuid(1), gosnmp.Gauge32, uint(1<<33))}, "want Gauge32"},
		{"undecodable value", []gosnmp.SnmpPDU{{Name: libvirtmib.ColumnState.Cell(uuid(1)), Type: gosnmp.Integer, Value: nil}}, "want INTEGER"},
		{"same row twice", []gosnmp.SnmpPDU{pdu(libvirtmib.ColumnState, uuid(2), gosnmp.Integer, 1), pdu(libvirtmib.ColumnCPUCount, uuid(2), gosnmp.Gauge32, uint(1)),
			pdu(libvirtmib.ColumnState, uuid(2), gosnmp.Integer, 1)}, "OID not increasing"},
		{"earlier row", []gosnmp.SnmpPDU{pdu(libvirtmib.ColumnState, uuid(2), gosnmp.Integer, 1), pdu(libvirtmib.ColumnCPUCount, uuid(2), gosnmp.Gauge32, uint(1)),
			pdu(libvirtmib.ColumnState, uuid(1), gosnmp.Integer, 1)}, "OID not increasing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := newTableWalk(cols, 10)
			_, idx := tw.pending()
			err := tw.absorb(idx, tt.vars)
			if !errors.Is(err, ErrBadAnswer) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrBadAnswer with %q", err, tt.want)
			}
		})
	}
}

func TestParseIndex(t *testing.T) {
	tests := []struct {
		in   string
		want libvirtmib.UUID
		ok   bool
	}{
		{strings.TrimPrefix(uuid(1).Index(), "."), uuid(1), true},
		{"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", libvirtmib.UUID{}, true},
		{"255.255.255.255.255.255.255.255.255.255.255.255.255.255.255.255", libvirtmib.UUID{255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}, true},
		{"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", libvirtmib.UUID{}, false},
		{"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", libvirtmib.UUID{}, false},
		{"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.", libvirtmib.UUID{}, false},
		{"00.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", libvirtmib.UUID{}, false},
		{"1000.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", libvirtmib.UUID{}, false},
		{"a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", libvirtmib.UUID{}, false},
		{"", libvirtmib.UUID{}, false},
	}
	for _, tt := range tests {
		got, err := parseIndex(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parseIndex(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestCompareOID(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{".1.3.6", ".1.3.6", 0},
		{".1.3.6", "1.3.6.1", -1},
		{".1.3.10", ".1.3.9", 1},
		{".1.3.6.1.4.1.36957.1.1.1.3", ".1.3.6.1.4.1.36957.1.1.1.2.255", 1},
		{".1.3.6.1.2.1.1.3.0", ".1.3.6.1.4.1.36957.1.1.1.2", -1},
	}
	for _, tt := range tests {
		got, err := compareOID(tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("compareOID(%q, %q) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
	}
	for _, bad := range []string{".1..3", ".1.3.", ".1.x", ".1.99999999999"} {
		if _, err := compareOID(bad, ".1.3"); err == nil {
			t.Errorf("compareOID(%q): no error", bad)
		}
	}
}

func TestTouch(t *testing.T) {
	fa, a := dialFake(t, fakeGuests, time.Second, 0)
	before := fa.Requests()
	if err := a.Touch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fa.Requests() != before+1 {
		t.Fatalf("%d requests, want 1", fa.Requests()-before)
	}
	fa.SetFault(hypervisortest.ErrorStatus)
	if err := a.Touch(context.Background()); !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("err = %v, want ErrBadAnswer", err)
	}
}
