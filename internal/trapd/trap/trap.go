// Package trap turns SNMP notifications into vcrcovery's terms. It decodes them from
// two sources of outside input: a gosnmp packet (trapd's own UDP listener) and the log
// file that net-snmp's snmptrapd writes (trapd's follow mode, both snmptrapd's default
// format and the one-line format documented in trapd/README.md). Both give a Trap, and
// Trap.Guest checks a libvirtGuestNotif against LIBVIRT-MIB (mibs/LIBVIRT-MIB.txt).
package trap

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors callers branch on. Every decoding error wraps one of them.
var (
	// ErrMalformed: the input is not a well-formed notification (bad BER, a cut log
	// record, a libvirtGuestNotif with a missing or mistyped varbind).
	ErrMalformed = errors.New("malformed notification")
	// ErrNotGuest: a well-formed notification, but not libvirtGuestNotif (e.g. snmpd's
	// own coldStart or nsNotifyShutdown).
	ErrNotGuest = errors.New("not a libvirtGuestNotif")
)

// Kind is the SNMP type of a varbind value (RFC 2578 / RFC 3416 application types).
type Kind int

// Kinds of varbind values.
const (
	KindOther     Kind = iota // a type trapd does not interpret (Opaque, BITS, exceptions)
	KindOctets                // OCTET STRING
	KindInteger               // INTEGER (Integer32)
	KindOID                   // OBJECT IDENTIFIER
	KindTimeTicks             // TimeTicks, hundredths of a second
	KindCounter32             // Counter32
	KindGauge32               // Gauge32 / Unsigned32
	KindCounter64             // Counter64
	KindIPAddress             // IpAddress
	KindNull                  // NULL
)

var kindNames = [...]string{"other", "OCTET STRING", "INTEGER", "OBJECT IDENTIFIER", "TimeTicks",
	"Counter32", "Gauge32", "Counter64", "IpAddress", "NULL"}

// String returns the ASN.1 type name, e.g. "OCTET STRING".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Var is one variable binding.
type Var struct {
	// OID is numeric with a leading dot when the source gave it numerically (always
	// for packets, and for logs written with -On); a symbolic OID from a log written
	// with MIBs loaded is translated for the objects vcrcovery knows and kept as
	// written otherwise.
	OID  string
	Kind Kind
	// Bytes is an OCTET STRING's value. From a log it is unknown when the string was
	// printed through a DISPLAY-HINT (Hinted); Text then holds the printed form.
	Bytes  []byte
	Hinted bool
	// Int is the value of the integer kinds (INTEGER may be negative; Counter64 is
	// stored as its two's complement when above MaxInt64).
	Int int64
	// Text is an OID value (numeric or symbolic), an IpAddress, a hinted string, or
	// the printed value of KindOther.
	Text string
}

// String formats the varbind for the raw-text forward of traps that are not guest
// traps: OID=TYPE:value.
func (v Var) String() string {
	var val string
	switch v.Kind {
	case KindOctets:
		if v.Hinted {
			val = v.Text
		} else if printable(v.Bytes) {
			val = strconv.Quote(string(v.Bytes))
		} else {
			val = fmt.Sprintf("0x%X", v.Bytes)
		}
	case KindInteger, KindTimeTicks:
		val = strconv.FormatInt(v.Int, 10)
	case KindCounter32, KindGauge32, KindCounter64:
		val = strconv.FormatUint(uint64(v.Int), 10)
	case KindNull:
		val = "NULL"
	default:
		val = v.Text
	}
	return v.OID + "=" + v.Kind.String() + ":" + val
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Trap is one received notification, whatever its version and source.
type Trap struct {
	// Source is the address the notification came from: the UDP source (listen mode)
	// or the transport address snmptrapd logged (follow mode). trapd maps it to a
	// hypervisor. Not the SNMPv1 agent-addr field, which the sender chooses.
	Source netip.Addr
	// Received is when trapd read the datagram, or the time snmptrapd logged (a
	// whole second in its default format).
	Received time.Time
	// Version is "1", "2c" or "3".
	Version string
	// Inform is set for an InformRequest, which wants a Response.
	Inform bool
	// User is the SNMPv3 user name.
	User string
	// TrapOID is snmpTrapOID.0, for SNMPv1 derived as RFC 3584 section 3.1 says.
	TrapOID string
	// Vars are the varbinds after sysUpTime.0 and snmpTrapOID.0 (SNMPv2, RFC 3416
	// section 4.2.6), or all of an SNMPv1 trap's.
	Vars []Var
	// Raw is the snmptrapd log record the trap was parsed from ("" for packets).
	Raw string
}

// Text is the trap as one line of text, for forwarding traps that are not guest traps
// to a Zabbix text item: the log record as snmptrapd wrote it, or for a packet its
// version, source, snmpTrapOID and varbinds.
func (t Trap) Text() string {
	if t.Raw != "" {
		return t.Raw
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "SNMPv%s from %s: %s", t.Version, t.Source, t.TrapOID)
	for _, v := range t.Vars {
		sb.WriteString("\t")
		sb.WriteString(v.String())
	}
	return sb.String()
}

// Var returns the first varbind with the given OID.
func (t Trap) Var(oid string) (Var, bool) {
	for _, v := range t.Vars {
		if v.OID == oid {
			return v, true
		}
	}
	return Var{}, false
}

// malformed wraps ErrMalformed with a description.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}
