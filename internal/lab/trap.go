package lab

import (
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
