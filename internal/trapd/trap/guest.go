package trap

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// Guest is a decoded libvirtGuestNotif: a guest's lifecycle event on a hypervisor.
type Guest struct {
	Name      string
	UUID      libvirtmib.UUID
	State     libvirtmib.GuestState
	RowStatus libvirtmib.RowStatus
	// Source and Received are the Trap's.
	Source   netip.Addr
	Received time.Time
}

// maxName caps a guest name: libvirt's names are short, and the name ends up in a
// Zabbix LLD macro.
const maxName = 256

// Guest checks that t is a libvirtGuestNotif as LIBVIRT-MIB defines it and returns its
// content. The notification's OBJECTS are looked up by OID (libvirt-snmp sends them as
// instance .0, in the order name, UUID, state, row status), so that an agent sending
// them in another order still works; each must be present once with its MIB type:
// libvirtGuestName OCTET STRING, libvirtGuestUUID OCTET STRING (SIZE (16)),
// libvirtGuestState INTEGER (libvirt's raw 0 nostate and 7 pmsuspended included, as
// libvirt-snmp copies virDomainState), libvirtGuestRowStatus RowStatus (1-6).
// The error wraps ErrNotGuest for another notification and ErrMalformed otherwise.
func (t Trap) Guest() (Guest, error) {
	if t.TrapOID != libvirtmib.GuestNotif {
		return Guest{}, ErrNotGuest
	}
	g := Guest{Source: t.Source, Received: t.Received}
	name, err := t.one(libvirtmib.NotifName, "libvirtGuestName", KindOctets)
	if err != nil {
		return Guest{}, err
	}
	if name.Hinted || len(name.Bytes) == 0 || len(name.Bytes) > maxName {
		return Guest{}, malformed("libvirtGuestName: want 1-%d octets, got %d", maxName, len(name.Bytes))
	}
	g.Name = strings.ToValidUTF8(string(name.Bytes), string(utf8.RuneError))

	uv, err := t.one(libvirtmib.NotifUUID, "libvirtGuestUUID", KindOctets)
	if err != nil {
		return Guest{}, err
	}
	if uv.Hinted {
		g.UUID, err = parseHintedUUID(uv.Text)
	} else {
		g.UUID, err = libvirtmib.UUIDFromBytes(uv.Bytes)
	}
	if err != nil {
		return Guest{}, malformed("libvirtGuestUUID: %v", err)
	}

	st, err := t.one(libvirtmib.NotifState, "libvirtGuestState", KindInteger)
	if err != nil {
		return Guest{}, err
	}
	if st.Int < int64(libvirtmib.StateNoState) || st.Int > int64(libvirtmib.StatePMSuspended) {
		return Guest{}, malformed("libvirtGuestState: %d is not a libvirt domain state (0-7)", st.Int)
	}
	g.State = libvirtmib.GuestState(st.Int)

	rs, err := t.one(libvirtmib.NotifRowStatus, "libvirtGuestRowStatus", KindInteger)
	if err != nil {
		return Guest{}, err
	}
	if rs.Int < int64(libvirtmib.RowActive) || rs.Int > int64(libvirtmib.RowDestroy) {
		return Guest{}, malformed("libvirtGuestRowStatus: %d is not a RowStatus (1-6)", rs.Int)
	}
	g.RowStatus = libvirtmib.RowStatus(rs.Int)
	return g, nil
}

// one returns the only varbind with oid, of kind k.
func (t Trap) one(oid, name string, k Kind) (Var, error) {
	var found Var
	n := 0
	for _, v := range t.Vars {
		if v.OID == oid {
			found = v
			n++
		}
	}
	switch {
	case n == 0:
		return Var{}, malformed("%s (%s) missing", name, oid)
	case n > 1:
		return Var{}, malformed("%s (%s) appears %d times", name, oid, n)
	case found.Kind != k:
		return Var{}, malformed("%s: want %v, got %v", name, k, found.Kind)
	}
	return found, nil
}

// uuidGroups are the octet counts of the groups of LIBVIRT-MIB's UUID DISPLAY-HINT
// "4x-2x-2x-2x-6x".
var uuidGroups = [5]int{4, 2, 2, 2, 6}

// parseHintedUUID parses a UUID as net-snmp prints it through the DISPLAY-HINT
// "4x-2x-2x-2x-6x" when LIBVIRT-MIB is loaded. net-snmp prints each group as a number,
// dropping leading zeros ("0c1d2e3f4a02" becomes "c1d2e3f4a02"), so each group is
// padded back to its fixed width.
func parseHintedUUID(s string) (libvirtmib.UUID, error) {
	var u libvirtmib.UUID
	parts := strings.Split(s, "-")
	if len(parts) != len(uuidGroups) {
		return u, malformed("UUID %q: want 5 dash-separated groups", s)
	}
	off := 0
	for i, p := range parts {
		width := 2 * uuidGroups[i]
		if len(p) == 0 || len(p) > width {
			return u, malformed("UUID %q: group %d has %d digits, want 1-%d", s, i+1, len(p), width)
		}
		p = strings.Repeat("0", width-len(p)) + p
		if _, err := hex.Decode(u[off:off+uuidGroups[i]], []byte(p)); err != nil {
			return libvirtmib.UUID{}, malformed("UUID %q: %v", s, err)
		}
		off += uuidGroups[i]
	}
	return u, nil
}

// Generic SNMPv1 traps and their SNMPv2 OIDs (RFC 3584 section 3.1, RFC 3418 snmpTraps).
const (
	snmpTraps        = ".1.3.6.1.6.3.1.1.5"
	genericSpecific  = 6
	maxGenericNumber = 5
)

// V1TrapOID derives snmpTrapOID.0 of an SNMPv1 trap as RFC 3584 section 3.1 says:
// a generic trap 0-5 is snmpTraps.(generic+1); an enterprise-specific one (6) is the
// enterprise, then 0, then the specific-trap number. libvirtGuestNotif sent as SNMPv1
// is enterprise .1.3.6.1.4.1.36957, specific 1.
func V1TrapOID(enterprise string, generic, specific int) (string, error) {
	switch {
	case generic >= 0 && generic <= maxGenericNumber:
		return snmpTraps + "." + strconv.Itoa(generic+1), nil
	case generic == genericSpecific:
		if specific < 0 {
			return "", malformed("SNMPv1 specific-trap %d", specific)
		}
		e := "." + strings.TrimPrefix(enterprise, ".")
		if e == "." {
			return "", malformed("SNMPv1 enterprise-specific trap without enterprise")
		}
		return e + ".0." + strconv.Itoa(specific), nil
	default:
		return "", malformed("SNMPv1 generic-trap %d", generic)
	}
}
