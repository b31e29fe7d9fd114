package guesttable

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

var (
	uuidA = libvirtmib.UUID{15: 1}
	uuidB = libvirtmib.UUID{15: 2}
)

const col = ".1.3.6.1.4.1.36957.1.1.1."

func walk(t *Table) []string {
	var got []string
	oid, _ := libvirtmib.ParseOID(libvirtmib.GuestTable)
	for {
		c, ok := t.Next(oid)
		if !ok {
			return got
		}
		got = append(got, c.Name+" "+c.Syntax.String()+" "+fmt.Sprint(c.Value))
		oid = c.OID
	}
}

func TestWalkOrderAndSyntax(t *testing.T) {
	idx := func(u libvirtmib.UUID) string { return u.Index() }
	tab := New([]Guest{
		{UUID: uuidB, Name: "web2", State: libvirtmib.StateShutoff, CPUs: 1, MemoryMiB: 64, MemoryMaxMiB: 64},
		{UUID: uuidA, Name: "web1", State: libvirtmib.StateRunning, CPUs: 2, MemoryMiB: 3, MemoryMaxMiB: 64, CPUTimeNanos: 1<<64 - 1},
		{UUID: uuidB, Name: "duplicate index: dropped"},
	})
	want := []string{
		col + "2" + idx(uuidA) + " OCTET STRING web1", col + "2" + idx(uuidB) + " OCTET STRING web2",
		col + "3" + idx(uuidA) + " INTEGER 1", col + "3" + idx(uuidB) + " INTEGER 5",
		col + "4" + idx(uuidA) + " Gauge32 2", col + "4" + idx(uuidB) + " Gauge32 1",
		col + "5" + idx(uuidA) + " Gauge32 3", col + "5" + idx(uuidB) + " Gauge32 64",
		col + "6" + idx(uuidA) + " Gauge32 64", col + "6" + idx(uuidB) + " Gauge32 64",
		col + "7" + idx(uuidA) + " Counter64 18446744073709551615", col + "7" + idx(uuidB) + " Counter64 0",
		col + "9" + idx(uuidA) + " INTEGER 1", col + "9" + idx(uuidB) + " INTEGER 1",
	}
	if diff := cmp.Diff(want, walk(tab)); diff != "" {
		t.Errorf("walk (-want +got)\n%s", diff)
	}
	// Value types are what gosnmp marshals for each syntax.
	for _, c := range tab.Cells() {
		var ok bool
		switch c.Syntax {
		case OctetString:
			_, ok = c.Value.(string)
		case Integer:
			_, ok = c.Value.(int)
		case Gauge32:
			_, ok = c.Value.(uint32)
		case Counter64:
			_, ok = c.Value.(uint64)
		}
		if !ok {
			t.Errorf("%s: %s value of type %T", c.Name, c.Syntax, c.Value)
		}
	}
	if got := walk(tab.Without(libvirtmib.ColumnCPUTime)); len(got) != 12 || got[10] != want[12] {
		t.Errorf("without CpuTime: %v", got)
	}
}

func TestGetAndNext(t *testing.T) {
	tab := New([]Guest{{UUID: uuidA, Name: "web1"}, {UUID: uuidB, Name: "web2"}})
	oid := func(s string) []uint32 {
		o, err := libvirtmib.ParseOID(s)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	name := func(c Cell, ok bool) string {
		if !ok {
			return "none"
		}
		return c.Name
	}
	a, b := uuidA.Index(), uuidB.Index()
	tests := []struct{ name, op, oid, want string }{
		{"get a cell", "get", col + "2" + a, col + "2" + a},
		{"get the uuid column", "get", col + "1" + a, "none"},
		{"get a column", "get", col + "2", "none"},
		{"get below a cell", "get", col + "2" + a + ".0", "none"},
		{"next from the table", "next", libvirtmib.GuestTable, col + "2" + a},
		{"next in a column", "next", col + "2" + a, col + "2" + b},
		{"next to the next column", "next", col + "2" + b, col + "3" + a},
		{"next from a partial index", "next", col + "7.0.0", col + "7" + a},
		{"next skips column 8", "next", col + "7" + b, col + "9" + a},
		{"next after the last cell", "next", col + "9" + b, "none"},
		{"next past the table", "next", ".1.3.6.1.4.1.36957.2", "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			if tt.op == "get" {
				got = name(tab.Get(oid(tt.oid)))
			} else {
				got = name(tab.Next(oid(tt.oid)))
			}
			if got != tt.want {
				t.Errorf("%s %s = %s, want %s", tt.op, tt.oid, got, tt.want)
			}
		})
	}
	if _, ok := New(nil).Next(oid(libvirtmib.GuestTable)); ok {
		t.Error("an empty table has a first cell")
	}
}

func TestCache(t *testing.T) {
	now := time.Unix(1000, 0)
	reads := 0
	c := &Cache{TTL: 5 * time.Second, Now: func() time.Time { return now }, Load: func(context.Context) ([]Guest, error) {
		reads++
		return []Guest{{UUID: uuidA, CPUTimeNanos: uint64(reads)}}, nil
	}}
	cpu, _ := libvirtmib.ParseOID(libvirtmib.ColumnCPUTime.Cell(uuidA))
	var got []uint64
	for _, step := range []time.Duration{0, time.Second, 3999 * time.Millisecond, time.Millisecond, 4 * time.Second, 2 * time.Second} {
		now = now.Add(step)
		tab, err := c.Table(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		cl, _ := tab.Get(cpu)
		got = append(got, cl.Value.(uint64))
	}
	// Reads at 0, 1, 4.999 (cached), 5 (loaded), 9 (cached), 11 (loaded).
	if diff := cmp.Diff([]uint64{1, 1, 1, 2, 2, 3}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestSynthetic(t *testing.T) {
	g0, g1 := SyntheticGuests(3, 0), SyntheticGuests(3, 10*time.Second)
	for i := range g0 {
		if g1[i].UUID != g0[i].UUID || g1[i].Name != g0[i].Name {
			t.Errorf("guest %d changed identity: %v -> %v", i, g0[i], g1[i])
		}
		// Guest i is busy at (i+1) % of one vCPU: 10 s add (i+1) * 100 ms.
		if d := g1[i].CPUTimeNanos - g0[i].CPUTimeNanos; d != uint64(i+1)*100_000_000 {
			t.Errorf("guest %d: CpuTime grew by %d ns in 10 s, want %d", i, d, (i+1)*100_000_000)
		}
	}
	want := Guest{UUID: libvirtmib.UUID{0xc0, 0xff, 0xee, 0x00, 0x5e, 0x17, 0x40, 0x00, 0x80, 0x00, 0, 0, 0, 0, 0x01, 0x02},
		Name: "synth00258", State: libvirtmib.StateRunning, CPUs: 3, MemoryMiB: 576, MemoryMaxMiB: 768, CPUTimeNanos: 258e9}
	if diff := cmp.Diff(want, Synthetic(258, 0)); diff != "" {
		t.Errorf("guest 258 (-want +got)\n%s", diff)
	}
}
