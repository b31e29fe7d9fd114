// Package libvirtmib holds the objects of libvirt-snmp's LIBVIRT-MIB (mibs/LIBVIRT-MIB.txt,
// enterprises.36957) that vcrcovery reads and receives: the OIDs of libvirtGuestTable and
// of the libvirtGuestNotif notification, the guest states and RowStatus values, and the
// conversion between a guest's UUID and its table index.
//
// OIDs are written the way gosnmp reports them: dotted, with a leading dot. The MIB's
// root is 36957; before 2018 libvirt-snmp used the placeholder 12345, which is not
// supported here.
package libvirtmib

import (
	"fmt"
	"strconv"
	"strings"
)

// Object identifiers of LIBVIRT-MIB and of the SNMPv2-MIB objects a notification carries.
const (
	// Root is libvirtMIB, the MODULE-IDENTITY of LIBVIRT-MIB: { enterprises 36957 }.
	Root = ".1.3.6.1.4.1.36957"
	// Notifications is libvirtNotifications: { libvirtMIB 0 }.
	Notifications = Root + ".0"
	// Objects is libvirtObjects: { libvirtMIB 1 }.
	Objects = Root + ".1"
	// GuestTable is libvirtGuestTable: { libvirtObjects 1 }, one row per guest.
	GuestTable = Objects + ".1"
	// GuestEntry is libvirtGuestEntry: { libvirtGuestTable 1 }, INDEX { libvirtGuestUUID }.
	// A cell is GuestEntry.<column>.<index>, see Column.OID.
	GuestEntry = GuestTable + ".1"
	// GuestNotif is libvirtGuestNotif: { libvirtNotifications 1 }, the value of
	// snmpTrapOID.0 in the trap libvirt-snmp sends on every guest lifecycle event.
	GuestNotif = Notifications + ".1"

	// SysUpTime is sysUpTime.0 (SNMPv2-MIB), the first varbind of every SNMPv2 trap
	// (RFC 3416 section 4.2.6).
	SysUpTime = ".1.3.6.1.2.1.1.3.0"
	// SnmpTrapOID is snmpTrapOID.0 (SNMPv2-MIB), the second varbind of every SNMPv2 trap;
	// its value names the notification.
	SnmpTrapOID = ".1.3.6.1.6.3.1.1.4.1.0"
)

// Varbind OIDs of libvirtGuestNotif. libvirt-snmp sends the notification's objects as
// instance 0 of their columns (not with the guest's table index), in this order after
// sysUpTime.0 and snmpTrapOID.0: name, UUID, state, row status.
const (
	// NotifName is libvirtGuestName.0 in a libvirtGuestNotif (OCTET STRING).
	NotifName = GuestEntry + ".2.0"
	// NotifUUID is libvirtGuestUUID.0 in a libvirtGuestNotif: the 16 raw UUID octets.
	NotifUUID = GuestEntry + ".1.0"
	// NotifState is libvirtGuestState.0 in a libvirtGuestNotif (INTEGER, a GuestState).
	NotifState = GuestEntry + ".3.0"
	// NotifRowStatus is libvirtGuestRowStatus.0 in a libvirtGuestNotif (INTEGER, a
	// RowStatus): NotInService when the guest is down, Active otherwise.
	NotifRowStatus = GuestEntry + ".9.0"
)

// Column is a column (sub-identifier under libvirtGuestEntry) of libvirtGuestTable.
type Column uint32

// Columns of libvirtGuestTable. Column 8 is not defined by the MIB.
const (
	// ColumnUUID is libvirtGuestUUID, the index; accessible-for-notify, so never walked.
	ColumnUUID Column = 1
	// ColumnName is libvirtGuestName, OCTET STRING: the guest's libvirt name.
	ColumnName Column = 2
	// ColumnState is libvirtGuestState, INTEGER: a GuestState.
	ColumnState Column = 3
	// ColumnCPUCount is libvirtGuestCpuCount, Unsigned32 (Gauge32 on the wire): vCPUs.
	ColumnCPUCount Column = 4
	// ColumnMemoryCurrent is libvirtGuestMemoryCurrent, Gauge32: memory in use, MiB.
	ColumnMemoryCurrent Column = 5
	// ColumnMemoryLimit is libvirtGuestMemoryLimit, Unsigned32 (Gauge32 on the wire):
	// the guest's maximum memory, MiB.
	ColumnMemoryLimit Column = 6
	// ColumnCPUTime is libvirtGuestCpuTime, Counter64: CPU time used, nanoseconds.
	ColumnCPUTime Column = 7
	// ColumnRowStatus is libvirtGuestRowStatus, RowStatus. libvirt-snmp's table always
	// says Active; only its traps say NotInService.
	ColumnRowStatus Column = 9
)

// Columns lists the walkable columns of libvirtGuestTable in OID order.
var Columns = []Column{ColumnName, ColumnState, ColumnCPUCount, ColumnMemoryCurrent,
	ColumnMemoryLimit, ColumnCPUTime, ColumnRowStatus}

var columnNames = map[Column]string{
	ColumnUUID:          "libvirtGuestUUID",
	ColumnName:          "libvirtGuestName",
	ColumnState:         "libvirtGuestState",
	ColumnCPUCount:      "libvirtGuestCpuCount",
	ColumnMemoryCurrent: "libvirtGuestMemoryCurrent",
	ColumnMemoryLimit:   "libvirtGuestMemoryLimit",
	ColumnCPUTime:       "libvirtGuestCpuTime",
	ColumnRowStatus:     "libvirtGuestRowStatus",
}

// String returns the column's MIB object name, e.g. "libvirtGuestCpuTime".
func (c Column) String() string {
	if n, ok := columnNames[c]; ok {
		return n
	}
	return "libvirtGuestColumn(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// OID returns the OID of the column, GuestEntry.<c>, without an index: the root of a
// walk of that column.
func (c Column) OID() string { return GuestEntry + "." + strconv.FormatUint(uint64(c), 10) }

// Cell returns the OID of the column's cell in the row of the guest u:
// GuestEntry.<c>.<16 UUID octets>.
func (c Column) Cell(u UUID) string { return c.OID() + u.Index() }

// ParseCell splits the OID of a libvirtGuestTable cell (with or without a leading dot)
// into its column and the guest's UUID.
func ParseCell(oid string) (Column, UUID, error) {
	rest, ok := strings.CutPrefix("."+strings.TrimPrefix(oid, "."), GuestEntry+".")
	if !ok {
		return 0, UUID{}, fmt.Errorf("oid %s: not in libvirtGuestTable (%s)", oid, GuestEntry)
	}
	col, idx, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, UUID{}, fmt.Errorf("oid %s: no row index", oid)
	}
	c, err := strconv.ParseUint(col, 10, 32)
	if err != nil || c == 0 {
		return 0, UUID{}, fmt.Errorf("oid %s: bad column %q", oid, col)
	}
	u, err := ParseIndex(idx)
	if err != nil {
		return 0, UUID{}, fmt.Errorf("oid %s: %w", oid, err)
	}
	return Column(c), u, nil
}

// ParseOID parses a dotted OID, with or without its leading dot, into sub-identifiers.
func ParseOID(s string) ([]uint32, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), ".")
	if s == "" {
		return nil, fmt.Errorf("empty oid")
	}
	parts := strings.Split(s, ".")
	oid := make([]uint32, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("oid %q: sub-identifier %q: %w", s, p, err)
		}
		oid[i] = uint32(n)
	}
	return oid, nil
}
