package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// HostPort is a host:port where the host may be a name (hv1.example:161) or an IP
// address: parsed once, with the default port filled in, so that consumers never split
// it again. A name is resolved by the consumer, when it dials or routes (trapd resolves
// hypervisor names at start). The zero HostPort means "not given".
type HostPort struct {
	host string
	port uint16
}

// HostPortFrom returns the HostPort of host (a name or an IP address, no brackets) and port.
func HostPortFrom(host string, port uint16) HostPort { return HostPort{host, port} }

// ParseHostPort parses host:port (IPv6 in brackets); the port is required.
func ParseHostPort(s string) (HostPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return HostPort{}, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || host == "" {
		return HostPort{}, fmt.Errorf("host:port %q: want a host and a port 1-65535", s)
	}
	return HostPort{host, uint16(n)}, nil
}

// Host is the name or address, without brackets.
func (hp HostPort) Host() string { return hp.host }

// Port is the port number.
func (hp HostPort) Port() uint16 { return hp.port }

// IsZero reports whether the HostPort was not given.
func (hp HostPort) IsZero() bool { return hp.host == "" }

// AddrPort returns the address and port when the host is an IP address literal.
func (hp HostPort) AddrPort() (netip.AddrPort, bool) {
	a, err := netip.ParseAddr(hp.host)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Unmap(), hp.port), true
}

// String is host:port (brackets around IPv6), as net.Dial takes it; "" when not given.
func (hp HostPort) String() string {
	if hp.IsZero() {
		return ""
	}
	return net.JoinHostPort(hp.host, strconv.Itoa(int(hp.port)))
}

// parseHostPortDefault parses host:port or a bare host (a name, an IPv4 address, or an
// IPv6 address with or without brackets) with defPort. The error is the message the
// inventory reports at the field.
func parseHostPortDefault(s string, defPort uint16) (HostPort, string) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: "zabbix.example" or a bare IPv6 address.
		host, port = strings.Trim(s, "[]"), strconv.Itoa(int(defPort))
	}
	if host == "" || strings.ContainsAny(host, " /") {
		return HostPort{}, fmt.Sprintf("must be host:port, got %q", s)
	}
	n, msg := parsePort(port)
	if msg != "" {
		return HostPort{}, msg
	}
	return HostPort{host, n}, ""
}

func parsePort(port string) (uint16, string) {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Sprintf("port must be 1-65535, got %q", port)
	}
	return uint16(n), ""
}

// enum is the text form of each value of a small enumeration, shared by String and the
// parser so that the two cannot disagree.
type enum[T ~uint8] []string

func (e enum[T]) name(v T) string {
	if int(v) < len(e) {
		return e[v]
	}
	return "unknown(" + strconv.Itoa(int(v)) + ")"
}

// parse finds s (case-insensitively when fold is set); index 0 is the zero value, which
// is never parsed from text.
func (e enum[T]) parse(s string, fold bool) (T, bool) {
	for i := 1; i < len(e); i++ {
		if e[i] == s || (fold && strings.EqualFold(e[i], s)) {
			return T(i), true
		}
	}
	return 0, false
}

// list is the parsable names, comma-separated, for error messages.
func (e enum[T]) list() string { return strings.Join(e[1:], ", ") }

// StandbyMode says how a service's standby container waits.
type StandbyMode uint8

// Standby modes.
const (
	_        StandbyMode = iota
	ModeWarm             // the container runs already
	ModeCold             // the container is created or started from its backup on demand
)

var standbyModes = enum[StandbyMode]{"", "warm", "cold"}

// String is the inventory's word: warm or cold.
func (m StandbyMode) String() string { return standbyModes.name(m) }

// SNMPVersion is the SNMP version a hypervisor's agent is asked with.
type SNMPVersion uint8

// SNMP versions.
const (
	_       SNMPVersion = iota
	SNMPv2c             // community-based (RFC 1901)
	SNMPv3              // user-based security (RFC 3414)
)

var snmpVersions = enum[SNMPVersion]{"", "2c", "3"}

// String is the inventory's word: 2c or 3.
func (v SNMPVersion) String() string { return snmpVersions.name(v) }

// BackupKind is where a cold standby container comes from.
type BackupKind uint8

// Backup kinds. BackupNone: no backup; the container must exist.
const (
	BackupNone     BackupKind = iota
	BackupImage               // an LXD image alias or fingerprint
	BackupTarball             // an LXD backup tarball ("backup" in the inventory)
	BackupSnapshot            // a snapshot of the container, "container/snap" or "snap"
)

var backupKinds = enum[BackupKind]{"", "image", "backup", "snapshot"}

// String is the inventory's word: image, backup or snapshot ("" for BackupNone).
func (k BackupKind) String() string { return backupKinds.name(k) }

// AuthProtocol is an SNMPv3 authentication protocol (RFC 3414, RFC 7860).
type AuthProtocol uint8

// Authentication protocols.
const (
	_ AuthProtocol = iota
	AuthMD5
	AuthSHA
	AuthSHA224
	AuthSHA256
	AuthSHA384
	AuthSHA512
)

var authProtocols = enum[AuthProtocol]{"", "MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"}

// String is the protocol's upper-case name, e.g. SHA256.
func (p AuthProtocol) String() string { return authProtocols.name(p) }

// PrivProtocol is an SNMPv3 privacy protocol; PrivNone makes the user authNoPriv.
type PrivProtocol uint8

// Privacy protocols (AES192C and AES256C: the Cisco-style key extension).
const (
	PrivNone PrivProtocol = iota
	PrivDES
	PrivAES
	PrivAES192
	PrivAES256
	PrivAES192C
	PrivAES256C
)

var privProtocols = enum[PrivProtocol]{"", "DES", "AES", "AES192", "AES256", "AES192C", "AES256C"}

// String is the protocol's upper-case name, e.g. AES ("" for PrivNone).
func (p PrivProtocol) String() string { return privProtocols.name(p) }
