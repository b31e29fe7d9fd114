package trap

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// PacketUser is the USM user name of the SNMPv3 message pkt ("" for others).
func PacketUser(pkt *gosnmp.SnmpPacket) string {
	if usm, ok := pkt.SecurityParameters.(*gosnmp.UsmSecurityParameters); ok {
		return usm.UserName
	}
	return ""
}

// FromPacket turns a notification that gosnmp decoded into a Trap. It accepts SNMPv1
// Trap-PDUs, SNMPv2-Trap-PDUs and InformRequest-PDUs; anything else (a GetRequest sent
// to the trap port, a Report) is ErrMalformed. An SNMPv2 notification must start with
// sysUpTime.0 and snmpTrapOID.0 (RFC 3416 section 4.2.6).
func FromPacket(pkt *gosnmp.SnmpPacket, src netip.Addr, received time.Time) (Trap, error) {
	t := Trap{Source: src, Received: received}
	switch pkt.Version {
	case gosnmp.Version1:
		t.Version = "1"
	case gosnmp.Version2c:
		t.Version = "2c"
	case gosnmp.Version3:
		t.Version = "3"
		t.User = PacketUser(pkt)
	default:
		return Trap{}, malformed("SNMP version %v", pkt.Version)
	}
	vars := make([]Var, 0, len(pkt.Variables))
	for _, p := range pkt.Variables {
		vars = append(vars, varFromPDU(p))
	}
	switch pkt.PDUType {
	case gosnmp.Trap:
		if pkt.Version != gosnmp.Version1 {
			return Trap{}, malformed("SNMPv1 Trap-PDU in an SNMPv%s message", t.Version)
		}
		oid, err := V1TrapOID(pkt.Enterprise, pkt.GenericTrap, pkt.SpecificTrap)
		if err != nil {
			return Trap{}, err
		}
		t.TrapOID, t.Vars = oid, vars
		return t, nil
	case gosnmp.SNMPv2Trap, gosnmp.InformRequest:
		if pkt.Version == gosnmp.Version1 {
			return Trap{}, malformed("%v PDU in an SNMPv1 message", pkt.PDUType)
		}
		t.Inform = pkt.PDUType == gosnmp.InformRequest
	default:
		return Trap{}, malformed("%v PDU is not a notification", pkt.PDUType)
	}
	if len(vars) < 2 || vars[0].OID != libvirtmib.SysUpTime || vars[0].Kind != KindTimeTicks ||
		vars[1].OID != libvirtmib.SnmpTrapOID || vars[1].Kind != KindOID {
		return Trap{}, malformed("notification does not start with sysUpTime.0 and snmpTrapOID.0")
	}
	t.TrapOID = dotted(vars[1].Text)
	t.Vars = vars[2:]
	return t, nil
}

// dotted gives a numeric OID its leading dot, as gosnmp and snmptrapd -On print them.
func dotted(oid string) string {
	if oid == "" || oid[0] == '.' {
		return oid
	}
	return "." + oid
}

// varFromPDU converts one gosnmp varbind. gosnmp's value types per ASN.1 type are
// documented on gosnmp.SnmpPDU; a value of an unexpected Go type becomes KindOther
// rather than a panic.
func varFromPDU(p gosnmp.SnmpPDU) Var {
	v := Var{OID: dotted(p.Name)}
	switch p.Type {
	case gosnmp.OctetString:
		if b, ok := p.Value.([]byte); ok {
			v.Kind, v.Bytes = KindOctets, b
			return v
		}
	case gosnmp.Integer:
		if i, ok := p.Value.(int); ok {
			v.Kind, v.Int = KindInteger, int64(i)
			return v
		}
	case gosnmp.ObjectIdentifier:
		if s, ok := p.Value.(string); ok {
			v.Kind, v.Text = KindOID, dotted(s)
			return v
		}
	case gosnmp.TimeTicks:
		if u, ok := p.Value.(uint32); ok {
			v.Kind, v.Int = KindTimeTicks, int64(u)
			return v
		}
	case gosnmp.Counter32, gosnmp.Gauge32, gosnmp.Uinteger32:
		v.Kind = KindGauge32
		if p.Type == gosnmp.Counter32 {
			v.Kind = KindCounter32
		}
		switch u := p.Value.(type) {
		case uint:
			v.Int = int64(u)
			return v
		case uint32:
			v.Int = int64(u)
			return v
		}
	case gosnmp.Counter64:
		if u, ok := p.Value.(uint64); ok {
			v.Kind, v.Int = KindCounter64, int64(u)
			return v
		}
	case gosnmp.IPAddress:
		if s, ok := p.Value.(string); ok {
			v.Kind, v.Text = KindIPAddress, s
			return v
		}
	case gosnmp.Null:
		v.Kind = KindNull
		return v
	}
	v.Kind = KindOther
	v.Text = strings.TrimSpace(fmt.Sprintf("%v: %v", p.Type, p.Value))
	return v
}
