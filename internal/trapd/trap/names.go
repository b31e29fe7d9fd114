package trap

import "strings"

// symbols maps the MIB object names snmptrapd prints when MIBs are loaded (without -On)
// to numeric OIDs, for the objects trapd interprets. Other symbolic OIDs are kept as
// written: they only ever appear in forwarded text.
var symbols = map[string]string{
	// SNMPv2-MIB (RFC 3418) and DISMAN-EVENT-MIB's sysUpTimeInstance.
	"sysUpTime":             ".1.3.6.1.2.1.1.3",
	"sysUpTimeInstance":     ".1.3.6.1.2.1.1.3.0",
	"snmpTrapOID":           ".1.3.6.1.6.3.1.1.4.1",
	"snmpTrapEnterprise":    ".1.3.6.1.6.3.1.1.4.3",
	"coldStart":             ".1.3.6.1.6.3.1.1.5.1",
	"warmStart":             ".1.3.6.1.6.3.1.1.5.2",
	"linkDown":              ".1.3.6.1.6.3.1.1.5.3",
	"linkUp":                ".1.3.6.1.6.3.1.1.5.4",
	"authenticationFailure": ".1.3.6.1.6.3.1.1.5.5",
	// SNMPv2-SMI, which prints OIDs without a known name under it.
	"enterprises": ".1.3.6.1.4.1",
	// NET-SNMP-MIB and NET-SNMP-AGENT-MIB: snmpd's own start and stop notifications.
	"netSnmp":          ".1.3.6.1.4.1.8072",
	"nsNotifyStart":    ".1.3.6.1.4.1.8072.4.0.1",
	"nsNotifyShutdown": ".1.3.6.1.4.1.8072.4.0.2",
	"nsNotifyRestart":  ".1.3.6.1.4.1.8072.4.0.3",
	// LIBVIRT-MIB.
	"libvirtMIB":                ".1.3.6.1.4.1.36957",
	"libvirtNotifications":      ".1.3.6.1.4.1.36957.0",
	"libvirtGuestNotif":         ".1.3.6.1.4.1.36957.0.1",
	"libvirtObjects":            ".1.3.6.1.4.1.36957.1",
	"libvirtGuestTable":         ".1.3.6.1.4.1.36957.1.1",
	"libvirtGuestEntry":         ".1.3.6.1.4.1.36957.1.1.1",
	"libvirtGuestUUID":          ".1.3.6.1.4.1.36957.1.1.1.1",
	"libvirtGuestName":          ".1.3.6.1.4.1.36957.1.1.1.2",
	"libvirtGuestState":         ".1.3.6.1.4.1.36957.1.1.1.3",
	"libvirtGuestCpuCount":      ".1.3.6.1.4.1.36957.1.1.1.4",
	"libvirtGuestMemoryCurrent": ".1.3.6.1.4.1.36957.1.1.1.5",
	"libvirtGuestMemoryLimit":   ".1.3.6.1.4.1.36957.1.1.1.6",
	"libvirtGuestCpuTime":       ".1.3.6.1.4.1.36957.1.1.1.7",
	"libvirtGuestRowStatus":     ".1.3.6.1.4.1.36957.1.1.1.9",
}

// numericOID translates an OID as snmptrapd prints it into numeric form where it can:
// ".1.3.6" stays, "LIBVIRT-MIB::libvirtGuestName.0" (default), "libvirtGuestName.0"
// (-Os) and ".iso.org.dod....libvirtGuestName.0" (-Of) all become
// ".1.3.6.1.4.1.36957.1.1.1.2.0". An OID with an unknown name is returned unchanged.
func numericOID(s string) string {
	if isNumericOID(s) {
		return s
	}
	name := s
	if i := strings.LastIndex(name, "::"); i >= 0 {
		name = name[i+2:]
	}
	labels := strings.Split(strings.TrimPrefix(name, "."), ".")
	// The last symbolic label names the object; numeric labels after it are the
	// instance. A quoted or bracketed index (-Ob off) is not translated.
	last := -1
	for i, l := range labels {
		if !isDigits(l) {
			last = i
		}
	}
	if last < 0 {
		return s
	}
	base, ok := symbols[labels[last]]
	if !ok {
		return s
	}
	for _, l := range labels[last+1:] {
		if !isDigits(l) {
			return s
		}
	}
	if suffix := labels[last+1:]; len(suffix) > 0 {
		return base + "." + strings.Join(suffix, ".")
	}
	return base
}

func isNumericOID(s string) bool {
	if len(s) < 2 || s[0] != '.' {
		return false
	}
	for _, l := range strings.Split(s[1:], ".") {
		if !isDigits(l) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
