// Package guesttable models libvirtGuestTable (LIBVIRT-MIB) the way libvirt-snmp serves
// it: the rows of a hypervisor's guests, the syntax of each column on the wire, the
// table's OID order and the successor of an OID (GETNEXT, and so each step of a
// GETBULK). The lab's agent (scripts/labagent, behind snmpd's pass_persist) and the
// in-process test agent (internal/hypervisor/hypervisortest) both serve this one model,
// so what the tests walk is what the lab walks.
package guesttable

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// Guest is one row of libvirtGuestTable, in the MIB's units. The row's
// libvirtGuestRowStatus is always active(1), as in libvirt-snmp (only its traps say
// notInService).
type Guest struct {
	UUID         libvirtmib.UUID
	Name         string
	State        libvirtmib.GuestState
	CPUs         uint32 // libvirtGuestCpuCount
	MemoryMiB    uint32 // libvirtGuestMemoryCurrent
	MemoryMaxMiB uint32 // libvirtGuestMemoryLimit
	CPUTimeNanos uint64 // libvirtGuestCpuTime; 0 while the guest is shut off
}

// Syntax is the SMI type of a cell as it goes on the wire (RFC 2578 section 7.1).
type Syntax int

// Syntaxes of libvirtGuestTable's columns on the wire.
const (
	// OctetString is libvirtGuestName; the Value is a string.
	OctetString Syntax = iota + 1
	// Integer is libvirtGuestState and libvirtGuestRowStatus; the Value is an int.
	Integer
	// Gauge32 is libvirtGuestCpuCount, libvirtGuestMemoryCurrent and
	// libvirtGuestMemoryLimit (Unsigned32 and Gauge32 share one tag); the Value is a uint32.
	Gauge32
	// Counter64 is libvirtGuestCpuTime; the Value is a uint64.
	Counter64
)

var syntaxNames = [...]string{"", "OCTET STRING", "INTEGER", "Gauge32", "Counter64"}

// String returns the SMI name, e.g. "Counter64".
func (s Syntax) String() string {
	if s > 0 && int(s) < len(syntaxNames) {
		return syntaxNames[s]
	}
	return "Syntax(" + strconv.Itoa(int(s)) + ")"
}

// Cell is one object instance of the table.
type Cell struct {
	// OID is GuestEntry.<column>.<16 UUID octets>.
	OID []uint32
	// Name is OID dotted with a leading dot, as gosnmp and snmpd write it.
	Name   string
	Column libvirtmib.Column
	Syntax Syntax
	// Value is a string, int, uint32 or uint64, by Syntax.
	Value any
}

// Table is libvirtGuestTable in OID order. It is immutable once built, so it is safe for
// concurrent use.
type Table struct {
	cells []Cell
}

// New builds the table of the guests: column by column (libvirt-snmp serves the walkable
// columns 2-7 and 9, libvirtmib.Columns), in each column the rows ordered by their UUID
// index. Of guests sharing a UUID only the first is kept: an index names one row.
func New(guests []Guest) *Table {
	rows := slices.Clone(guests)
	slices.SortStableFunc(rows, func(a, b Guest) int { return slices.Compare(a.UUID[:], b.UUID[:]) })
	rows = slices.CompactFunc(rows, func(a, b Guest) bool { return a.UUID == b.UUID })
	t := &Table{cells: make([]Cell, 0, len(rows)*len(libvirtmib.Columns))}
	for _, col := range libvirtmib.Columns {
		prefix := append(slices.Clone(entry), uint32(col))
		for _, g := range rows {
			oid := make([]uint32, 0, len(prefix)+len(g.UUID))
			oid = append(oid, prefix...)
			for _, b := range g.UUID {
				oid = append(oid, uint32(b))
			}
			syn, val := value(col, g)
			t.cells = append(t.cells, Cell{OID: oid, Name: FormatOID(oid), Column: col, Syntax: syn, Value: val})
		}
	}
	return t
}

// entry is libvirtmib.GuestEntry as sub-identifiers.
var entry = func() []uint32 {
	o, err := libvirtmib.ParseOID(libvirtmib.GuestEntry)
	if err != nil {
		panic(err) // a constant
	}
	return o
}()

// value returns the syntax and value of a guest's column as libvirt-snmp sends them:
// CpuCount, MemoryCurrent and MemoryLimit are Gauge32 on the wire, CpuTime is Counter64
// in nanoseconds, RowStatus always active(1).
func value(col libvirtmib.Column, g Guest) (Syntax, any) {
	switch col {
	case libvirtmib.ColumnName:
		return OctetString, g.Name
	case libvirtmib.ColumnState:
		return Integer, int(g.State)
	case libvirtmib.ColumnCPUCount:
		return Gauge32, g.CPUs
	case libvirtmib.ColumnMemoryCurrent:
		return Gauge32, g.MemoryMiB
	case libvirtmib.ColumnMemoryLimit:
		return Gauge32, g.MemoryMaxMiB
	case libvirtmib.ColumnCPUTime:
		return Counter64, g.CPUTimeNanos
	case libvirtmib.ColumnRowStatus:
		return Integer, int(libvirtmib.RowActive)
	}
	panic(fmt.Sprintf("no value for column %d", col))
}

// Len is the number of cells.
func (t *Table) Len() int { return len(t.cells) }

// Cells returns the cells in OID order; the caller must not change them.
func (t *Table) Cells() []Cell { return t.cells }

// Without returns a copy of the table without the cells of column col (a broken agent
// that leaves a column out).
func (t *Table) Without(col libvirtmib.Column) *Table {
	return &Table{cells: slices.DeleteFunc(slices.Clone(t.cells), func(c Cell) bool { return c.Column == col })}
}

func (t *Table) search(oid []uint32) (int, bool) {
	return slices.BinarySearchFunc(t.cells, oid, func(c Cell, o []uint32) int { return slices.Compare(c.OID, o) })
}

// Get returns the cell at oid exactly (GET).
func (t *Table) Get(oid []uint32) (Cell, bool) {
	i, ok := t.search(oid)
	if !ok {
		return Cell{}, false
	}
	return t.cells[i], true
}

// Next returns the first cell after oid in lexicographic OID order (GETNEXT, RFC 3416
// section 4.2.2); oid itself need not be a cell. false: oid is at or past the last
// cell (endOfMibView).
func (t *Table) Next(oid []uint32) (Cell, bool) {
	i, ok := t.search(oid)
	if ok {
		i++
	}
	if i >= len(t.cells) {
		return Cell{}, false
	}
	return t.cells[i], true
}

// FormatOID writes oid dotted, with a leading dot.
func FormatOID(oid []uint32) string {
	var sb strings.Builder
	sb.Grow(len(oid) * 4)
	for _, n := range oid {
		sb.WriteByte('.')
		sb.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return sb.String()
}
