package libvirtmib

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// UUID is a guest's UUID (LIBVIRT-MIB textual convention UUID: OCTET STRING (SIZE (16)),
// RFC 4122), the index of libvirtGuestTable.
type UUID [16]byte

// ParseUUID parses the textual form libvirt prints (virsh domuuid):
// 8-4-4-4-12 hexadecimal digits, either case. 32 digits without dashes are accepted too.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || (len(h) != len(s) && !dashed(s)) {
		return u, fmt.Errorf("uuid %q: want 8-4-4-4-12 hex digits", s)
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return UUID{}, fmt.Errorf("uuid %q: %w", s, err)
	}
	return u, nil
}

func dashed(s string) bool {
	return len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-'
}

// UUIDFromBytes returns the UUID in b, the value of libvirtGuestUUID in a trap: exactly
// 16 raw octets.
func UUIDFromBytes(b []byte) (UUID, error) {
	var u UUID
	if len(b) != len(u) {
		return u, fmt.Errorf("uuid: want 16 octets, got %d", len(b))
	}
	copy(u[:], b)
	return u, nil
}

// String returns the lower-case 8-4-4-4-12 form, as libvirt prints it.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Index returns the guest's row index in libvirtGuestTable as an OID suffix with a
// leading dot: the 16 UUID octets as 16 sub-identifiers. libvirt-snmp uses the fixed
// size of the UUID type, so there is no length sub-identifier (RFC 2578 section 7.7).
func (u UUID) Index() string {
	var sb strings.Builder
	sb.Grow(16 * 4)
	for _, b := range u {
		sb.WriteByte('.')
		sb.WriteString(strconv.Itoa(int(b)))
	}
	return sb.String()
}

// ParseIndex parses a row index of libvirtGuestTable, with or without a leading dot:
// exactly 16 sub-identifiers 0-255.
func ParseIndex(index string) (UUID, error) {
	var u UUID
	parts := strings.Split(strings.TrimPrefix(index, "."), ".")
	if len(parts) != len(u) {
		return u, fmt.Errorf("index %q: want 16 sub-identifiers, got %d", index, len(parts))
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return UUID{}, fmt.Errorf("index %q: sub-identifier %d: want 0-255, got %q", index, i+1, p)
		}
		u[i] = byte(n)
	}
	return u, nil
}
