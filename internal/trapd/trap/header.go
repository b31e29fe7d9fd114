package trap

import "fmt"

// A minimal BER reader for the outer header of an SNMP message, so that a listener can
// refuse a datagram with a wrong community or an unknown SNMPv3 user before paying for
// a full decode (and, for SNMPv3, a key localisation and a decryption): a flood of
// foreign traps then costs little. It reads lengths strictly (definite form, at most 4
// length octets, never past the buffer) because its input is anyone's datagram.

// Header is the part of an SNMP message before the PDU.
type Header struct {
	// Version is the msgVersion field: 0 SNMPv1, 1 SNMPv2c, 3 SNMPv3.
	Version int64
	// Community of an SNMPv1/v2c message.
	Community []byte
	// SNMPv3 fields (RFC 3412 HeaderData, RFC 3414 UsmSecurityParameters).
	Flags         byte
	SecurityModel int64
	EngineID      []byte
	EngineBoots   int64
	EngineTime    int64
	User          string
	// Encrypted tells whether the scopedPDU is an encrypted OCTET STRING rather than
	// a plaintext SEQUENCE (RFC 3412 ScopedPduData).
	Encrypted bool
}

// SNMP message versions (msgVersion).
const (
	Version1  = 0
	Version2c = 1
	Version3  = 3
)

// BER tags used in the header.
const (
	tagInteger  = 0x02
	tagOctets   = 0x04
	tagSequence = 0x30
)

// usmModel is the User-based Security Model's number (RFC 3411 SnmpSecurityModel).
const usmModel = 3

// PeekHeader reads the header of an SNMP message. The error wraps ErrMalformed.
func PeekHeader(b []byte) (Header, error) {
	var h Header
	msg, _, err := tlv(b, tagSequence)
	if err != nil {
		return h, malformed("message: %v", err)
	}
	ver, rest, err := tlv(msg, tagInteger)
	if err != nil {
		return h, malformed("msgVersion: %v", err)
	}
	if h.Version, err = integer(ver); err != nil {
		return h, malformed("msgVersion: %v", err)
	}
	switch h.Version {
	case Version1, Version2c:
		if h.Community, _, err = tlv(rest, tagOctets); err != nil {
			return h, malformed("community: %v", err)
		}
		return h, nil
	case Version3:
	default:
		return h, malformed("msgVersion %d", h.Version)
	}
	global, rest, err := tlv(rest, tagSequence)
	if err != nil {
		return h, malformed("msgGlobalData: %v", err)
	}
	_, g, err := tlv(global, tagInteger) // msgID
	if err == nil {
		_, g, err = tlv(g, tagInteger) // msgMaxSize
	}
	var flags []byte
	if err == nil {
		flags, g, err = tlv(g, tagOctets)
	}
	var model []byte
	if err == nil {
		model, _, err = tlv(g, tagInteger)
	}
	if err == nil && len(flags) != 1 {
		err = errf("msgFlags of %d octets", len(flags))
	}
	if err == nil {
		h.Flags = flags[0]
		h.SecurityModel, err = integer(model)
	}
	if err != nil {
		return h, malformed("msgGlobalData: %v", err)
	}
	if h.SecurityModel != usmModel {
		return h, malformed("msgSecurityModel %d, only USM (3) is supported", h.SecurityModel)
	}
	sp, rest, err := tlv(rest, tagOctets)
	if err != nil {
		return h, malformed("msgSecurityParameters: %v", err)
	}
	if len(rest) == 0 {
		return h, malformed("no msgData")
	}
	h.Encrypted = rest[0] == tagOctets
	usm, _, err := tlv(sp, tagSequence)
	if err != nil {
		return h, malformed("UsmSecurityParameters: %v", err)
	}
	var boots, etime, user []byte
	h.EngineID, usm, err = tlv(usm, tagOctets)
	if err == nil {
		boots, usm, err = tlv(usm, tagInteger)
	}
	if err == nil {
		etime, usm, err = tlv(usm, tagInteger)
	}
	if err == nil {
		user, _, err = tlv(usm, tagOctets)
	}
	if err == nil {
		h.EngineBoots, err = integer(boots)
	}
	if err == nil {
		h.EngineTime, err = integer(etime)
	}
	if err != nil {
		return h, malformed("UsmSecurityParameters: %v", err)
	}
	h.User = string(user)
	return h, nil
}

type berError string

func (e berError) Error() string { return string(e) }

func errf(format string, args ...any) error {
	return berError(fmt.Sprintf(format, args...))
}

// tlv reads one element of the wanted tag from b and returns its contents and what
// follows it.
func tlv(b []byte, tag byte) (val, rest []byte, err error) {
	if len(b) < 2 {
		return nil, nil, berError("truncated")
	}
	if b[0] != tag {
		return nil, nil, errf("tag 0x%02x, want 0x%02x", b[0], tag)
	}
	n := int(b[1])
	off := 2
	if n&0x80 != 0 {
		octets := n & 0x7f
		if octets == 0 || octets > 4 {
			return nil, nil, errf("length of %d octets", octets)
		}
		if len(b) < 2+octets {
			return nil, nil, berError("truncated length")
		}
		n = 0
		for _, c := range b[2 : 2+octets] {
			n = n<<8 | int(c)
		}
		off += octets
	}
	if n < 0 || n > len(b)-off {
		return nil, nil, errf("length %d past the end (%d octets left)", n, len(b)-off)
	}
	return b[off : off+n], b[off+n:], nil
}

// integer decodes a two's complement INTEGER of at most 8 octets.
func integer(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 8 {
		return 0, errf("INTEGER of %d octets", len(b))
	}
	v := int64(int8(b[0]))
	for _, c := range b[1:] {
		v = v<<8 | int64(c)
	}
	return v, nil
}
