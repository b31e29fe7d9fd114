package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// cell is one object instance of the table as pass_persist reports it.
type cell struct {
	OID   []uint32
	Type  string // pass_persist type: string, integer, gauge, counter64
	Value string
}

// table is libvirtGuestTable in OID order, for get and getnext.
type table struct {
	cells []cell
}

// newTable builds the table of the guests: column by column (libvirt-snmp serves the
// walkable columns 2-7 and 9), rows ordered by their UUID index.
func newTable(guests []Guest) *table {
	rows := slices.Clone(guests)
	slices.SortFunc(rows, func(a, b Guest) int { return slices.Compare(a.UUID[:], b.UUID[:]) })
	rows = slices.CompactFunc(rows, func(a, b Guest) bool { return a.UUID == b.UUID })
	base, err := libvirtmib.ParseOID(libvirtmib.GuestEntry)
	if err != nil {
		panic(err) // a constant
	}
	t := &table{cells: make([]cell, 0, len(rows)*len(libvirtmib.Columns))}
	for _, col := range libvirtmib.Columns {
		for _, g := range rows {
			oid := make([]uint32, 0, len(base)+1+len(g.UUID))
			oid = append(append(oid, base...), uint32(col))
			for _, b := range g.UUID {
				oid = append(oid, uint32(b))
			}
			typ, val := cellValue(col, g)
			t.cells = append(t.cells, cell{OID: oid, Type: typ, Value: val})
		}
	}
	return t
}

// cellValue returns the pass_persist type and value of a guest's column: CpuCount,
// MemoryCurrent and MemoryLimit are Gauge32 on the wire, CpuTime is Counter64, as with
// libvirt-snmp.
func cellValue(col libvirtmib.Column, g Guest) (string, string) {
	switch col {
	case libvirtmib.ColumnName:
		// One line per value in the protocol.
		return "string", strings.NewReplacer("\n", " ", "\r", " ").Replace(g.Name)
	case libvirtmib.ColumnState:
		return "integer", strconv.Itoa(int(g.State))
	case libvirtmib.ColumnCPUCount:
		return "gauge", strconv.FormatUint(uint64(g.CPUs), 10)
	case libvirtmib.ColumnMemoryCurrent:
		return "gauge", strconv.FormatUint(uint64(g.MemoryMiB), 10)
	case libvirtmib.ColumnMemoryLimit:
		return "gauge", strconv.FormatUint(uint64(g.MemoryMaxMiB), 10)
	case libvirtmib.ColumnCPUTime:
		return "counter64", strconv.FormatUint(g.CPUTimeNanos, 10)
	case libvirtmib.ColumnRowStatus:
		return "integer", strconv.Itoa(int(libvirtmib.RowActive))
	}
	panic(fmt.Sprintf("no value for column %d", col))
}

// Get returns the cell at oid.
func (t *table) Get(oid []uint32) (cell, bool) {
	i, ok := slices.BinarySearchFunc(t.cells, oid, func(c cell, o []uint32) int { return slices.Compare(c.OID, o) })
	if !ok {
		return cell{}, false
	}
	return t.cells[i], true
}

// Next returns the first cell after oid in OID order (getnext).
func (t *table) Next(oid []uint32) (cell, bool) {
	i, ok := slices.BinarySearchFunc(t.cells, oid, func(c cell, o []uint32) int { return slices.Compare(c.OID, o) })
	if ok {
		i++
	}
	if i >= len(t.cells) {
		return cell{}, false
	}
	return t.cells[i], true
}

func formatOID(oid []uint32) string {
	var sb strings.Builder
	for _, n := range oid {
		sb.WriteByte('.')
		sb.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return sb.String()
}

// cachedTable serves a table rebuilt from its source at most once per TTL, like
// libvirt-snmp's table cache: a read right after a change may show the old values.
type cachedTable struct {
	Source source
	TTL    time.Duration
	Now    func() time.Time
	Log    *slog.Logger

	mu    sync.Mutex
	t     *table
	at    time.Time
	valid bool
}

// Table returns the current table, reading the source when the cached one is older than
// the TTL. A failing source yields the guests it could read (an empty table when
// libvirt does not answer, as with the real agent).
func (c *cachedTable) Table(ctx context.Context) *table {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Now()
	if c.valid && now.Sub(c.at) < c.TTL {
		return c.t
	}
	guests, err := c.Source.Guests(ctx)
	if err != nil {
		c.Log.Error("read guests", "err", err)
	}
	c.t, c.at, c.valid = newTable(guests), now, true
	c.Log.Debug("table refreshed", "guests", len(guests), "duration_seconds", c.Now().Sub(now).Seconds())
	return c.t
}
