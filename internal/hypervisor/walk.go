package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// Guest is one row of libvirtGuestTable as the sender reads it, in the MIB's units.
type Guest struct {
	UUID  libvirtmib.UUID
	Name  string                // libvirtGuestName
	State libvirtmib.GuestState // libvirtGuestState
	// VCPUs is libvirtGuestCpuCount.
	VCPUs uint32
	// MemoryMiB is libvirtGuestMemoryCurrent, MiB.
	MemoryMiB uint32
	// CPUTime is libvirtGuestCpuTime, nanoseconds since the guest started (0 while it
	// is shut off). A Counter64: it goes back when the guest restarts.
	CPUTime uint64
}

// WalkColumns are the columns WalkGuests reads, in OID order: only what the sender
// needs, so the agent serves 5 of the table's 7 walkable columns.
var WalkColumns = []libvirtmib.Column{libvirtmib.ColumnName, libvirtmib.ColumnState,
	libvirtmib.ColumnCPUCount, libvirtmib.ColumnMemoryCurrent, libvirtmib.ColumnCPUTime}

// ErrBadAnswer marks an agent that answered, but not like a libvirt-snmp agent: a value
// of the wrong type, a column missing, an OID that does not increase, a row index that
// is not a UUID, an SNMP error status or a runaway table.
var ErrBadAnswer = errors.New("bad answer from the agent")

// ErrNoTable marks an agent that answers but serves no libvirtGuestTable: noSuchObject
// for its columns, or (the sampler's check) no rows at all after it had some. The real
// libvirt-snmp subagent does this once libvirtd restarts: it never reconnects (it logs
// "Failed to list all domains: client socket is closed"), walks find no table and no
// traps come, until the subagent itself is restarted. An empty answer must not be read
// as "no guests": an empty discovery would make Zabbix drop every guest's items.
var ErrNoTable = errors.New("no libvirtGuestTable: the libvirt-snmp subagent has likely lost its libvirtd connection (libvirtd restarted; it never reconnects): restart the subagent on the hypervisor")

// WalkOptions tune WalkGuests.
type WalkOptions struct {
	// MaxRepetitions is the GETBULK max-repetitions: rows asked per column per
	// request (default 25: with 5 columns, about 6 KB answers). An agent answering
	// tooBig gets half as many.
	MaxRepetitions int
	// MaxGuests bounds the table (default 100,000): an agent that keeps answering
	// increasing OIDs must not make the sender allocate without end.
	MaxGuests int
}

func (o WalkOptions) maxRepetitions() int {
	if o.MaxRepetitions > 0 {
		return o.MaxRepetitions
	}
	return 25
}

func (o WalkOptions) maxGuests() int {
	if o.MaxGuests > 0 {
		return o.MaxGuests
	}
	return 100_000
}

// Walk is the result of WalkGuests.
type Walk struct {
	// Guests are the complete rows, sorted by UUID.
	Guests []Guest
	// Partial counts rows that some column lacked: the agent's table changed during
	// the walk (a guest was defined or undefined). They are left out until the next walk.
	Partial int
	// Requests is the number of GETBULK requests the walk took.
	Requests int
}

// WalkGuests reads WalkColumns of every row of libvirtGuestTable with GETBULK, all the
// columns side by side in each request (RFC 3416 section 4.2.3: with non-repeaters 0
// the answer holds max-repetitions rows of each requested column, interleaved). Each
// request obeys the hypervisor's timeout and retries; ctx bounds the whole walk.
func (a *Agent) WalkGuests(ctx context.Context, o WalkOptions) (Walk, error) {
	a.g.Context = ctx
	t := newTableWalk(WalkColumns, o.maxGuests())
	reps := o.maxRepetitions()
	requests := 0
	for {
		oids, idx := t.pending()
		if len(oids) == 0 {
			break
		}
		pkt, err := a.g.GetBulk(oids, 0, uint32(reps))
		requests++
		if err != nil {
			return Walk{}, fmt.Errorf("walk libvirtGuestTable of %s (request %d): %w", a.Name, requests, err)
		}
		if pkt.Error == gosnmp.TooBig && reps > 1 {
			reps /= 2
			continue
		}
		if pkt.Error != gosnmp.NoError {
			return Walk{}, fmt.Errorf("walk libvirtGuestTable of %s: %w: error status %v at index %d", a.Name, ErrBadAnswer, pkt.Error, pkt.ErrorIndex)
		}
		if err := t.absorb(idx, pkt.Variables); err != nil {
			return Walk{}, fmt.Errorf("walk libvirtGuestTable of %s: %w", a.Name, err)
		}
	}
	w, err := t.result()
	if err != nil {
		return Walk{}, fmt.Errorf("walk libvirtGuestTable of %s: %w", a.Name, err)
	}
	w.Requests = requests
	return w, nil
}

// Touch asks for the first libvirtGuestCpuTime cell (one GETNEXT) and discards the
// answer: an agent whose table cache has expired reads libvirt now, and answers once
// it has, so the time of the answer is the time of the values the walk that follows
// gets from the cache.
func (a *Agent) Touch(ctx context.Context) error {
	a.g.Context = ctx
	pkt, err := a.g.GetNext([]string{libvirtmib.ColumnCPUTime.OID()})
	if err != nil {
		return fmt.Errorf("getnext libvirtGuestCpuTime from %s: %w", a.Name, err)
	}
	if pkt.Error != gosnmp.NoError {
		return fmt.Errorf("getnext libvirtGuestCpuTime from %s: %w: error status %v", a.Name, ErrBadAnswer, pkt.Error)
	}
	return nil
}

// CPUTimeCell is one guest's libvirtGuestCpuTime as read by CPUTimes.
type CPUTimeCell struct {
	Value uint64
	// OK is false when the agent has no such row (noSuchInstance).
	OK bool
}

// CPUTimes reads libvirtGuestCpuTime of a few guests with one GET: a cheap way to see
// whether the agent's table cache has been refreshed since the last walk.
func (a *Agent) CPUTimes(ctx context.Context, uuids []libvirtmib.UUID) ([]CPUTimeCell, error) {
	a.g.Context = ctx
	oids := make([]string, len(uuids))
	for i, u := range uuids {
		oids[i] = libvirtmib.ColumnCPUTime.Cell(u)
	}
	pkt, err := a.g.Get(oids)
	if err != nil {
		return nil, fmt.Errorf("get libvirtGuestCpuTime of %d guests from %s: %w", len(uuids), a.Name, err)
	}
	return decodeCPUTimes(oids, pkt)
}

func decodeCPUTimes(oids []string, pkt *gosnmp.SnmpPacket) ([]CPUTimeCell, error) {
	if pkt.Error != gosnmp.NoError {
		return nil, fmt.Errorf("get libvirtGuestCpuTime: %w: error status %v", ErrBadAnswer, pkt.Error)
	}
	if len(pkt.Variables) != len(oids) {
		return nil, fmt.Errorf("get libvirtGuestCpuTime: %w: %d variables for %d asked", ErrBadAnswer, len(pkt.Variables), len(oids))
	}
	out := make([]CPUTimeCell, len(oids))
	for i, v := range pkt.Variables {
		if normOID(v.Name) != oids[i] {
			return nil, fmt.Errorf("get libvirtGuestCpuTime: %w: variable %d is %s, asked %s", ErrBadAnswer, i, v.Name, oids[i])
		}
		switch v.Type {
		case gosnmp.NoSuchInstance, gosnmp.NoSuchObject:
			continue
		case gosnmp.Counter64:
			if n, ok := v.Value.(uint64); ok {
				out[i] = CPUTimeCell{Value: n, OK: true}
				continue
			}
		}
		return nil, fmt.Errorf("get libvirtGuestCpuTime: %w: %s is %v, want Counter64", ErrBadAnswer, v.Name, v.Type)
	}
	return out, nil
}

// tableWalk assembles the rows of a column-parallel GETBULK walk from the answers.
// It is the decoder of what an agent sends, so it trusts nothing: every column must
// advance, every index must be a UUID, every value must have the MIB's type.
type tableWalk struct {
	cols      []columnWalk
	rows      map[libvirtmib.UUID]*rowBuild
	maxGuests int
}

type columnWalk struct {
	col     libvirtmib.Column
	oid     string // the column's OID
	prefix  string // oid + "."
	last    string // the last OID read, the next request's starting point
	lastRow libvirtmib.UUID
	started bool
	done    bool
	// absent: the agent answered noSuchObject/noSuchInstance before any cell of the
	// column, an agent that does not serve the table (RFC 3416 4.2.2 lets a GETNEXT
	// answer only a next object or endOfMibView; libvirt-snmp without libvirtd does this).
	absent bool
	cells  int
}

type rowBuild struct {
	g    Guest
	have uint8 // bit i: cols[i] read
}

func newTableWalk(cols []libvirtmib.Column, maxGuests int) *tableWalk {
	t := &tableWalk{rows: map[libvirtmib.UUID]*rowBuild{}, maxGuests: maxGuests}
	for _, c := range cols {
		t.cols = append(t.cols, columnWalk{col: c, oid: c.OID(), prefix: c.OID() + ".", last: c.OID()})
	}
	return t
}

// pending returns the OIDs to continue from, one per unfinished column, and the
// columns' positions in t.cols.
func (t *tableWalk) pending() ([]string, []int) {
	var oids []string
	var idx []int
	for i := range t.cols {
		if !t.cols[i].done {
			oids = append(oids, t.cols[i].last)
			idx = append(idx, i)
		}
	}
	return oids, idx
}

// absorb decodes the variables answering a GETBULK for the columns idx (in that
// order): variable i belongs to column idx[i % len(idx)].
func (t *tableWalk) absorb(idx []int, vars []gosnmp.SnmpPDU) error {
	if len(vars) == 0 {
		return fmt.Errorf("%w: empty answer to GETBULK", ErrBadAnswer)
	}
	for i := range vars {
		c := &t.cols[idx[i%len(idx)]]
		if c.done {
			continue // what follows the end of a column in the same answer
		}
		if err := t.cell(c, idx[i%len(idx)], &vars[i]); err != nil {
			return err
		}
	}
	return nil
}

func (t *tableWalk) cell(c *columnWalk, ci int, v *gosnmp.SnmpPDU) error {
	switch v.Type {
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance:
		c.absent = !c.started
		c.done = true
		return nil
	case gosnmp.EndOfMibView:
		c.done = true
		return nil
	}
	name := normOID(v.Name)
	if !strings.HasPrefix(name, c.prefix) {
		// Past the column (the next column, or beyond the table): the column is done,
		// provided the agent moved forward.
		if cmp, err := compareOID(name, c.last); err != nil || cmp <= 0 {
			return fmt.Errorf("%w: %s after %s: OID not increasing", ErrBadAnswer, v.Name, c.last)
		}
		c.done = true
		return nil
	}
	u, err := parseIndex(name[len(c.prefix):])
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadAnswer, v.Name, err)
	}
	if c.started && slices.Compare(u[:], c.lastRow[:]) <= 0 {
		return fmt.Errorf("%w: %s after %s: OID not increasing", ErrBadAnswer, v.Name, c.last)
	}
	r := t.rows[u]
	if r == nil {
		if len(t.rows) >= t.maxGuests {
			return fmt.Errorf("%w: more than %d rows", ErrBadAnswer, t.maxGuests)
		}
		r = &rowBuild{g: Guest{UUID: u}}
		t.rows[u] = r
	}
	if err := setColumn(&r.g, c.col, v); err != nil {
		return fmt.Errorf("%w: %s of %s: %v", ErrBadAnswer, c.col, u, err)
	}
	r.have |= 1 << ci
	c.last, c.lastRow, c.started = name, u, true
	c.cells++
	return nil
}

// setColumn stores a value after checking its type against LIBVIRT-MIB (CpuCount and
// MemoryCurrent are Unsigned32/Gauge32, which share one BER tag; CpuTime is Counter64).
func setColumn(g *Guest, col libvirtmib.Column, v *gosnmp.SnmpPDU) error {
	switch col {
	case libvirtmib.ColumnName:
		if b, ok := v.Value.([]byte); ok && v.Type == gosnmp.OctetString {
			g.Name = string(b) // copies: gosnmp reuses its receive buffer
			return nil
		}
		return wrongType(v, "OCTET STRING")
	case libvirtmib.ColumnState:
		if n, ok := v.Value.(int); ok && v.Type == gosnmp.Integer && n >= math.MinInt32 && n <= math.MaxInt32 {
			g.State = libvirtmib.GuestState(n)
			return nil
		}
		return wrongType(v, "INTEGER")
	case libvirtmib.ColumnCPUCount, libvirtmib.ColumnMemoryCurrent:
		n, ok := gauge(v)
		if !ok {
			return wrongType(v, "Gauge32")
		}
		if col == libvirtmib.ColumnCPUCount {
			g.VCPUs = n
		} else {
			g.MemoryMiB = n
		}
		return nil
	case libvirtmib.ColumnCPUTime:
		if n, ok := v.Value.(uint64); ok && v.Type == gosnmp.Counter64 {
			g.CPUTime = n
			return nil
		}
		return wrongType(v, "Counter64")
	}
	return fmt.Errorf("column %d is not read", col)
}

func gauge(v *gosnmp.SnmpPDU) (uint32, bool) {
	var n uint64
	switch x := v.Value.(type) {
	case uint:
		n = uint64(x)
	case uint32:
		n = uint64(x)
	default:
		return 0, false
	}
	if (v.Type != gosnmp.Gauge32 && v.Type != gosnmp.Uinteger32) || n > math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}

func wrongType(v *gosnmp.SnmpPDU, want string) error {
	return fmt.Errorf("value of type %v, want %s", v.Type, want)
}

// result returns the complete rows. A column that yielded nothing while others did is
// an error: the agent does not serve it. No rows with a column answered noSuchObject is
// ErrNoTable.
func (t *tableWalk) result() (Walk, error) {
	var all uint8
	for i, c := range t.cols {
		all |= 1 << i
		if c.absent && len(t.rows) == 0 {
			return Walk{}, fmt.Errorf("%s answered noSuchObject: %w", c.col, ErrNoTable)
		}
		if c.cells == 0 && len(t.rows) > 0 {
			return Walk{}, fmt.Errorf("%w: column %s is missing (%d rows in the others)", ErrBadAnswer, c.col, len(t.rows))
		}
	}
	w := Walk{Guests: make([]Guest, 0, len(t.rows))}
	for _, r := range t.rows {
		if r.have == all {
			w.Guests = append(w.Guests, r.g)
		} else {
			w.Partial++
		}
	}
	slices.SortFunc(w.Guests, func(a, b Guest) int { return slices.Compare(a.UUID[:], b.UUID[:]) })
	return w, nil
}

// normOID returns oid with a leading dot, as gosnmp reports names.
func normOID(oid string) string {
	if strings.HasPrefix(oid, ".") {
		return oid
	}
	return "." + oid
}

// parseIndex parses a row index: exactly 16 sub-identifiers of 0-255, separated by
// dots, without allocating (this runs for every cell of a 10,000-guest table).
func parseIndex(s string) (libvirtmib.UUID, error) {
	var u libvirtmib.UUID
	n := 0
	for i := 0; i < len(u); i++ {
		if i > 0 {
			if n >= len(s) || s[n] != '.' {
				return u, fmt.Errorf("row index %q: want 16 sub-identifiers", s)
			}
			n++
		}
		v, digits := 0, 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' && digits < 4 {
			v = v*10 + int(s[n]-'0')
			n++
			digits++
		}
		if digits == 0 || v > 255 || (digits > 1 && s[n-digits] == '0') {
			return u, fmt.Errorf("row index %q: sub-identifier %d is not an octet", s, i+1)
		}
		u[i] = byte(v)
	}
	if n != len(s) {
		return u, fmt.Errorf("row index %q: want 16 sub-identifiers", s)
	}
	return u, nil
}

// compareOID compares two dotted OIDs numerically (lexicographic order of
// sub-identifiers, RFC 3416's order for GETNEXT).
func compareOID(a, b string) (int, error) {
	a, b = strings.TrimPrefix(a, "."), strings.TrimPrefix(b, ".")
	for {
		if a == "" || b == "" {
			switch {
			case a == "" && b == "":
				return 0, nil
			case a == "":
				return -1, nil
			default:
				return 1, nil
			}
		}
		x, ra, err := nextSubID(a)
		if err != nil {
			return 0, err
		}
		y, rb, err := nextSubID(b)
		if err != nil {
			return 0, err
		}
		if x != y {
			if x < y {
				return -1, nil
			}
			return 1, nil
		}
		a, b = ra, rb
	}
}

func nextSubID(s string) (uint64, string, error) {
	i := 0
	var v uint64
	for i < len(s) && s[i] != '.' {
		if s[i] < '0' || s[i] > '9' || v > math.MaxUint32 {
			return 0, "", fmt.Errorf("oid %q: bad sub-identifier", s)
		}
		v = v*10 + uint64(s[i]-'0')
		i++
	}
	if i == 0 {
		return 0, "", fmt.Errorf("oid %q: empty sub-identifier", s)
	}
	if i < len(s) {
		i++ // the dot
		if i == len(s) {
			return 0, "", fmt.Errorf("oid %q: trailing dot", s)
		}
	}
	return v, s[i:], nil
}
