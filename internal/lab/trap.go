package lab

import (
	"fmt"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// GuestNotif returns the varbinds of a libvirtGuestNotif SNMPv2 trap about guest name
// (LIBVIRT-MIB: name, UUID, state, row status) as libvirt-snmp sends it, for tests
// that send traps with gosnmp.
func GuestNotif(name string, u libvirtmib.UUID, state libvirtmib.GuestState) []gosnmp.SnmpPDU {
	return []gosnmp.SnmpPDU{
		{Name: libvirtmib.SysUpTime, Type: gosnmp.TimeTicks, Value: uint32(1)},
		{Name: libvirtmib.SnmpTrapOID, Type: gosnmp.ObjectIdentifier, Value: libvirtmib.GuestNotif},
		{Name: libvirtmib.NotifName, Type: gosnmp.OctetString, Value: []byte(name)},
		{Name: libvirtmib.NotifUUID, Type: gosnmp.OctetString, Value: u[:]},
		{Name: libvirtmib.NotifState, Type: gosnmp.Integer, Value: int(state)},
		{Name: libvirtmib.NotifRowStatus, Type: gosnmp.Integer, Value: int(state.RowStatus())},
	}
}

// TrapLogRecord is a libvirtGuestNotif about guest name (shut off) as snmptrapd logs it
// with -On in its default format, received from 127.0.0.1: what trapd's follow mode
// reads, for tests that write snmptrapd's log themselves.
func TrapLogRecord(name string) string {
	return fmt.Sprintf("2026-11-22 03:34:48 UDP: [127.0.0.1]:5->[127.0.0.1]:162 [UDP: [127.0.0.1]:5->[127.0.0.1]:162]:\n"+
		".1.3.6.1.2.1.1.3.0 = Timeticks: (36) 0:00:00.36\t.1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.4.1.36957.0.1\t"+
		".1.3.6.1.4.1.36957.1.1.1.2.0 = STRING: %q\t.1.3.6.1.4.1.36957.1.1.1.1.0 = Hex-STRING: 6F 1C 8A 52 3E 0B 4D 5E 9A 77 0C 1D 2E 3F 4A 02 \t"+
		".1.3.6.1.4.1.36957.1.1.1.3.0 = INTEGER: 5\t.1.3.6.1.4.1.36957.1.1.1.9.0 = INTEGER: 2\n", name)
}
