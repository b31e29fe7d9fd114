package trap

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// snmptrapd log formats (net-snmp 5.9, snmptrapd.conf(5) FORMAT SPECIFICATIONS).
//
// Default, SNMPv2c/v3 notification ("%.4y-%.2m-%.2l %.2h:%.2j:%.2k %B [%b]:\n%v\n"):
//
//	2026-11-22 03:34:48 UDP: [127.0.0.1]:49947->[127.0.0.1]:20162 [UDP: [127.0.0.1]:49947->[127.0.0.1]:20162]:
//	.1.3.6.1.2.1.1.3.0 = Timeticks: (36) 0:00:00.36<TAB>.1.3.6.1.6.3.1.1.4.1.0 = OID: ...
//
// Default, SNMPv1 trap: a header naming the agent address, transport and community,
// a line with the enterprise and the generic or specific trap, then the varbinds:
//
//	2026-11-22 03:42:52 127.0.0.9 [127.0.0.9] (via UDP: [127.0.0.1]:45903->[127.0.0.1]:29999) TRAP, SNMP v1, community public
//	<TAB>.1.3.6.1.4.1.36957 Enterprise Specific Trap (1) Uptime: 0:41:24.22
//	<TAB>.1.3.6.1.4.1.36957.1.1.1.2.0 = STRING: "web2"<TAB>...
//
// trapd's one-line format, for snmptrapd -F 'VCRTRAP %t %w %q %N %b\t%v\n' (seconds
// since the epoch, so no time zone guessing; generic, specific and enterprise for
// SNMPv1 traps):
//
//	VCRTRAP 1795319002 0 0 . UDP: [127.0.0.1]:60871->[127.0.0.1]:29999<TAB>.1.3.6.1.2.1.1.3.0 = ...
//
// Pitfalls the parser handles (shared/LAB-NOTES.md): an OCTET STRING whose octets are
// all printable or white space is logged as STRING: "..." with only " and \ escaped, so
// a UUID or a name may hold a raw TAB or newline inside the quotes; a Hex-STRING longer
// than 16 octets continues on the next line; with LIBVIRT-MIB loaded, OIDs are names,
// INTEGERs read "shutoff(5)", and the UUID goes through its DISPLAY-HINT with leading
// zeros of each group dropped.

// LogPrefix starts every record of trapd's one-line format.
const LogPrefix = "VCRTRAP "

// LogFormat is the snmptrapd -F argument of trapd's one-line format.
const LogFormat = `VCRTRAP %t %w %q %N %b\t%v\n`

// MaxLogRecord bounds a record: a longer one (an unterminated quote, say) is
// malformed, and parsing resumes after its first line.
const MaxLogRecord = 64 << 10

// LogRecord is one record of an snmptrapd log: a notification, or a stretch that is
// not one (Err wraps ErrMalformed).
type LogRecord struct {
	Trap Trap
	Err  error
	// Start and End delimit the record in the parsed buffer (End is past its newline).
	Start, End int
}

var (
	stampRE = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) `)
	v1RE    = regexp.MustCompile(`^\S+ \[[^\]]*\] \(via (.*)\) TRAP, SNMP v1, community .*$`)
)

// noise are lines snmptrapd writes to its log that are not notifications: start and
// stop messages and MIB loading complaints. They are skipped without being counted.
var noise = []string{
	"NET-SNMP version ", "Stopping snmptrapd", "Created directory: ", "MIB search path: ",
	"Cannot find module ", "Did not find ", "Warning: ", "Unlinked OID ", "Undefined identifier: ",
	"Bad operator ", "Expected ", "Unknown token", "Cannot adopt OID ", "No log handling enabled",
	"Starting snmptrapd", "snmptrapd: ", "Bad format of ", "Unknown notification type",
}

// ParseLog parses the complete records at the start of buf, a stretch of an snmptrapd
// log that starts at a record boundary, and returns them with the number of bytes they
// (and any skipped noise) take. What follows consumed is an incomplete record: call
// again with more data appended. loc is the time zone snmptrapd wrote its default
// format's local times in.
//
// A record ends at the newline that ends its varbind line outside quotes. A Hex-STRING
// of exactly 16 octets at the end of a line is only continued when the next line is
// already in buf and holds hex octets: snmptrapd writes a record in one write, so the
// parser does not wait for a continuation that is not there.
func ParseLog(buf []byte, loc *time.Location) (recs []LogRecord, consumed int) {
	p := logParser{buf: buf, loc: loc}
	pos := 0
	for pos < len(buf) {
		nl := bytes.IndexByte(buf[pos:], '\n')
		if nl < 0 {
			if len(buf)-pos > MaxLogRecord {
				// A line this long with no end: give it up so the buffer stays bounded.
				recs = append(recs, LogRecord{Err: malformed("log line of more than %d bytes", MaxLogRecord), Start: pos, End: len(buf)})
				pos = len(buf)
			}
			break
		}
		next := pos + nl + 1
		line := string(buf[pos : pos+nl])
		if isNoise(line) {
			pos = next
			continue
		}
		rec, end, st := p.record(pos, line, next)
		if st == needMore {
			if len(buf)-pos <= MaxLogRecord {
				break
			}
			rec, end = LogRecord{Err: malformed("log record of more than %d bytes", MaxLogRecord)}, next
		}
		rec.Start, rec.End = pos, end
		if rec.Err == nil {
			rec.Trap.Raw = redactCommunity(strings.TrimRight(string(buf[pos:end]), "\n"))
		}
		recs = append(recs, rec)
		pos = end
	}
	return recs, pos
}

// v1Community is where snmptrapd's SNMPv1 header names the community.
const v1Community = " TRAP, SNMP v1, community "

// redactCommunity hides the community that snmptrapd writes into an SNMPv1 record's
// header: Raw may be forwarded to Zabbix, and a community is a secret.
func redactCommunity(raw string) string {
	first, rest, more := strings.Cut(raw, "\n")
	i := strings.Index(first, v1Community)
	if i < 0 {
		return raw
	}
	out := first[:i+len(v1Community)] + "<secret>"
	if more {
		out += "\n" + rest
	}
	return out
}

func isNoise(line string) bool {
	if strings.TrimSpace(line) == "" {
		return true
	}
	if m := stampRE.FindStringIndex(line); m != nil {
		rest := line[m[1]:]
		return strings.HasPrefix(rest, "NET-SNMP version ") && strings.HasSuffix(rest, " Stopped.")
	}
	for _, n := range noise {
		if strings.HasPrefix(line, n) {
			return true
		}
	}
	return false
}

type status int

const (
	done status = iota
	needMore
)

type logParser struct {
	buf []byte
	loc *time.Location
}

// record parses the record whose first line is line (at pos, next is past it).
func (p *logParser) record(pos int, line string, next int) (LogRecord, int, status) {
	if rest, ok := strings.CutPrefix(line, LogPrefix); ok {
		return p.oneLine(pos, rest)
	}
	m := stampRE.FindStringSubmatchIndex(line)
	if m == nil {
		return LogRecord{Err: malformed("log line is not a trap header: %.80q", line)}, next, done
	}
	stamp, err := time.ParseInLocation(time.DateTime, line[m[2]:m[3]], p.loc)
	if err != nil {
		return LogRecord{Err: malformed("log time %q: %v", line[m[2]:m[3]], err)}, next, done
	}
	rest := line[m[1]:]
	if v1 := v1RE.FindStringSubmatch(rest); v1 != nil {
		return p.v1(next, stamp, v1[1])
	}
	transport, ok := bracketed(rest)
	if !ok {
		return LogRecord{Err: malformed("log header: %.80q", line)}, next, done
	}
	t := Trap{Version: "2", Received: stamp, Source: sourceOf(transport)}
	vars, end, st, err := p.varbinds(next)
	if st == needMore {
		return LogRecord{}, 0, needMore
	}
	if err != nil {
		return LogRecord{Err: err}, end, done
	}
	if err := v2(&t, vars); err != nil {
		return LogRecord{Err: err}, end, done
	}
	return LogRecord{Trap: t}, end, done
}

// v2 takes sysUpTime.0 and snmpTrapOID.0 off the front of an SNMPv2 varbind list.
func v2(t *Trap, vars []Var) error {
	if len(vars) < 2 || vars[0].OID != libvirtmib.SysUpTime || vars[0].Kind != KindTimeTicks ||
		vars[1].OID != libvirtmib.SnmpTrapOID || vars[1].Kind != KindOID {
		return malformed("notification does not start with sysUpTime.0 and snmpTrapOID.0")
	}
	t.TrapOID = numericOID(vars[1].Text)
	t.Vars = vars[2:]
	return nil
}

// v1 parses an SNMPv1 record after its header: the enterprise line, then the varbinds.
func (p *logParser) v1(pos int, stamp time.Time, transport string) (LogRecord, int, status) {
	nl := bytes.IndexByte(p.buf[pos:], '\n')
	if nl < 0 {
		return LogRecord{}, 0, needMore
	}
	line := strings.TrimPrefix(string(p.buf[pos:pos+nl]), "\t")
	next := pos + nl + 1
	// "<enterprise> Enterprise Specific Trap (1) Uptime: ..." or "<enterprise> Cold Start Trap (0) Uptime: ..."
	enterprise, desc, ok := strings.Cut(line, " ")
	i := strings.Index(desc, " Trap (")
	var j int
	if ok && i >= 0 {
		j = strings.IndexByte(desc[i:], ')')
	}
	if !ok || i < 0 || j < 0 {
		return LogRecord{Err: malformed("SNMPv1 trap line: %.80q", line)}, next, done
	}
	generic, specific := -1, desc[i+len(" Trap ("):i+j]
	if name := desc[:i]; name == "Enterprise Specific" {
		generic = genericSpecific
	} else {
		for g, n := range v1Generic {
			if n == name {
				generic = g
			}
		}
	}
	oid, err := v1OID(enterprise, generic, specific)
	if err != nil {
		return LogRecord{Err: err}, next, done
	}
	vars, end, st, err := p.varbinds(next)
	if st == needMore {
		return LogRecord{}, 0, needMore
	}
	if err != nil {
		return LogRecord{Err: err}, end, done
	}
	return LogRecord{Trap: Trap{Version: "1", Received: stamp, Source: sourceOf(transport), TrapOID: oid, Vars: vars}}, end, done
}

// v1OID derives snmpTrapOID.0 of a logged SNMPv1 trap. snmptrapd prints the specific
// trap as a number (".1" with -On) or, with the MIB loaded, as the notification's name
// ("LIBVIRT-MIB::libvirtGuestNotif"), which already is the RFC 3584 OID.
func v1OID(enterprise string, generic int, specific string) (string, error) {
	if n, err := strconv.Atoi(strings.TrimPrefix(specific, ".")); err == nil {
		return V1TrapOID(numericOID(enterprise), generic, n)
	}
	if generic != genericSpecific {
		return V1TrapOID(numericOID(enterprise), generic, 0)
	}
	oid := numericOID(specific)
	if !isNumericOID(oid) {
		return "", malformed("SNMPv1 specific trap %.80q", specific)
	}
	return oid, nil
}

// v1Generic are snmptrapd's names of the generic SNMPv1 traps 0-5.
var v1Generic = [...]string{"Cold Start", "Warm Start", "Link Down", "Link Up", "Authentication Failure", "EGP Neighbor Loss"}

// oneLine parses a record of trapd's one-line format after "VCRTRAP ".
func (p *logParser) oneLine(pos int, rest string) (LogRecord, int, status) {
	tab := strings.IndexByte(rest, '\t')
	next := pos + len(LogPrefix) + len(rest) + 1
	if tab < 0 {
		return LogRecord{Err: malformed("one-line record without a TAB before the varbinds")}, next, done
	}
	f := strings.SplitN(rest[:tab], " ", 5)
	if len(f) != 5 {
		return LogRecord{Err: malformed("one-line record header %.80q", rest[:tab])}, next, done
	}
	secs, err1 := strconv.ParseInt(f[0], 10, 64)
	generic, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || secs < 0 || secs > 1<<40 {
		return LogRecord{Err: malformed("one-line record header %.80q", rest[:tab])}, next, done
	}
	t := Trap{Received: time.Unix(secs, 0), Source: sourceOf(f[4])}
	vars, end, st, err := p.varbinds(pos + len(LogPrefix) + tab + 1)
	if st == needMore {
		return LogRecord{}, 0, needMore
	}
	if err != nil {
		return LogRecord{Err: err}, end, done
	}
	if len(vars) > 0 && vars[0].OID == libvirtmib.SysUpTime {
		t.Version = "2"
		if err := v2(&t, vars); err != nil {
			return LogRecord{Err: err}, end, done
		}
		return LogRecord{Trap: t}, end, done
	}
	oid, err := v1OID(f[3], generic, f[2])
	if err != nil {
		return LogRecord{Err: err}, end, done
	}
	t.Version, t.TrapOID, t.Vars = "1", oid, vars
	return LogRecord{Trap: t}, end, done
}

// bracketed returns the text inside the last [...] of a default header, which ends
// with "]:"; the text itself holds brackets ("UDP: [127.0.0.1]:1->[127.0.0.1]:2").
func bracketed(s string) (string, bool) {
	s, ok := strings.CutSuffix(s, "]:")
	if !ok {
		return "", false
	}
	depth := 1
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ']':
			depth++
		case '[':
			depth--
			if depth == 0 {
				return s[i+1:], true
			}
		}
	}
	return "", false
}

// sourceOf returns the source address in a net-snmp transport string, the first
// bracketed address: "UDP: [127.0.0.1]:1->[127.0.0.1]:2", "UDP/IPv6: [::1]:3". The
// zero Addr means unknown.
func sourceOf(transport string) netip.Addr {
	i := strings.IndexByte(transport, '[')
	if i < 0 {
		return netip.Addr{}
	}
	j := strings.IndexByte(transport[i:], ']')
	if j < 0 {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(transport[i+1 : i+j])
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// startsRecord reports whether the line at pos begins a new record: used to resync
// when a quoted string never closes (a record cut by a crash of snmptrapd).
func (p *logParser) startsRecord(pos int) bool {
	end := bytes.IndexByte(p.buf[pos:], '\n')
	if end < 0 {
		end = len(p.buf) - pos
	}
	line := string(p.buf[pos : pos+end])
	if strings.HasPrefix(line, LogPrefix) {
		return true
	}
	m := stampRE.FindStringIndex(line)
	if m == nil {
		return false
	}
	rest := line[m[1]:]
	return strings.HasSuffix(rest, "]:") || v1RE.MatchString(rest) || strings.HasPrefix(rest, "NET-SNMP version ")
}

// varbinds parses a varbind line starting at pos: "OID = TYPE: value", TAB-separated,
// ending with a newline outside quotes. It returns the varbinds and the offset past
// the line. On a malformed line the offset is where parsing resumes.
func (p *logParser) varbinds(pos int) ([]Var, int, status, error) {
	b := p.buf
	if pos < len(b) && p.startsRecord(pos) {
		// The header had no varbind line: snmptrapd stopped in the middle.
		return nil, pos, done, malformed("record cut off before its varbinds")
	}
	if pos < len(b) && b[pos] == '\t' {
		pos++
	}
	var vars []Var
	for {
		if pos >= len(b) {
			return nil, 0, needMore, nil
		}
		if b[pos] == '\n' {
			return vars, pos + 1, done, nil
		}
		// OID up to " = ", on this line.
		eol := bytes.IndexByte(b[pos:], '\n')
		if eol < 0 {
			return nil, 0, needMore, nil
		}
		lineEnd := pos + eol
		eq := bytes.Index(b[pos:lineEnd], []byte(" = "))
		if eq < 0 {
			return nil, lineEnd + 1, done, malformed("varbind without \" = \": %.80q", b[pos:lineEnd])
		}
		if tab := bytes.IndexByte(b[pos:pos+eq], '\t'); tab >= 0 {
			return nil, lineEnd + 1, done, malformed("varbind without \" = \": %.80q", b[pos:pos+tab])
		}
		oid := numericOID(string(b[pos : pos+eq]))
		pos += eq + 3
		v, end, st, err := p.value(pos)
		if st == needMore || err != nil {
			return nil, end, st, err
		}
		v.OID = oid
		vars = append(vars, v)
		pos = end
		switch {
		case pos >= len(b):
			return nil, 0, needMore, nil
		case b[pos] == '\t':
			pos++
		case b[pos] == '\n':
			return vars, pos + 1, done, nil
		default:
			eol := bytes.IndexByte(b[pos:], '\n')
			if eol < 0 {
				return nil, 0, needMore, nil
			}
			return nil, pos + eol + 1, done, malformed("text after a value: %.80q", b[pos:pos+eol])
		}
	}
}

// value parses "TYPE: payload" at pos and returns the offset of the TAB or newline
// after it.
func (p *logParser) value(pos int) (Var, int, status, error) {
	b := p.buf
	stop := func(from int) int { // next TAB or newline, or -1
		for i := from; i < len(b); i++ {
			if b[i] == '\t' || b[i] == '\n' {
				return i
			}
		}
		return -1
	}
	end := stop(pos)
	if end < 0 {
		return Var{}, 0, needMore, nil
	}
	field := string(b[pos:end])
	if field == `""` {
		return Var{Kind: KindOctets, Bytes: []byte{}}, end, done, nil
	}
	if field == "NULL" {
		return Var{Kind: KindNull}, end, done, nil
	}
	typ, payload, ok := strings.Cut(field, ": ")
	// "Wrong Type (should be OCTET STRING): INTEGER: 5": the value as it came.
	for ok && strings.HasPrefix(typ, "Wrong Type (") {
		typ, payload, ok = strings.Cut(payload, ": ")
	}
	if !ok {
		return Var{Kind: KindOther, Text: field}, end, done, nil
	}
	start := end - len(payload) // payload's offset in b
	switch typ {
	case "STRING":
		if strings.HasPrefix(payload, `"`) {
			return p.quoted(start)
		}
		return Var{Kind: KindOctets, Hinted: true, Text: payload}, end, done, nil
	case "Hex-STRING":
		return p.hexString(start)
	case "INTEGER":
		n, err := labelledInt(payload)
		if err != nil {
			return Var{}, end, done, err
		}
		return Var{Kind: KindInteger, Int: n}, end, done, nil
	case "Gauge32", "UInteger32", "Counter32", "Counter64":
		n, err := strconv.ParseUint(payload, 10, 64)
		if err != nil {
			return Var{}, end, done, malformed("%s value %.40q", typ, payload)
		}
		k := map[string]Kind{"Gauge32": KindGauge32, "UInteger32": KindGauge32, "Counter32": KindCounter32, "Counter64": KindCounter64}[typ]
		return Var{Kind: k, Int: int64(n)}, end, done, nil
	case "Timeticks":
		// "(36) 0:00:00.36"
		if !strings.HasPrefix(payload, "(") {
			return Var{}, end, done, malformed("Timeticks value %.40q", payload)
		}
		num, _, _ := strings.Cut(payload[1:], ")")
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return Var{}, end, done, malformed("Timeticks value %.40q", payload)
		}
		return Var{Kind: KindTimeTicks, Int: int64(n)}, end, done, nil
	case "OID":
		return Var{Kind: KindOID, Text: numericOID(payload)}, end, done, nil
	case "IpAddress":
		return Var{Kind: KindIPAddress, Text: payload}, end, done, nil
	default:
		return Var{Kind: KindOther, Text: field}, end, done, nil
	}
}

// labelledInt parses an INTEGER as snmptrapd prints it: "5", "-3", or with an
// enumeration loaded "shutoff(5)".
func labelledInt(s string) (int64, error) {
	if i := strings.LastIndexByte(s, '('); i >= 0 && strings.HasSuffix(s, ")") {
		s = s[i+1 : len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, malformed("INTEGER value %.40q", s)
	}
	return n, nil
}

// quoted parses a quoted STRING at pos (on its opening quote). Only " and \ are
// escaped; TABs and newlines appear raw.
func (p *logParser) quoted(pos int) (Var, int, status, error) {
	b := p.buf
	out := make([]byte, 0, 32)
	for i := pos + 1; i < len(b); i++ {
		switch c := b[i]; c {
		case '\\':
			if i+1 >= len(b) {
				return Var{}, 0, needMore, nil
			}
			i++
			out = append(out, b[i])
		case '"':
			return Var{Kind: KindOctets, Bytes: out}, i + 1, done, nil
		case '\n':
			// Inside quotes a newline is data, unless the next line starts a new
			// record: then this record was cut off.
			if i+1 < len(b) && p.startsRecord(i+1) {
				return Var{}, i + 1, done, malformed("STRING cut off by the next record")
			}
			out = append(out, c)
		default:
			out = append(out, c)
		}
		if len(out) > MaxLogRecord {
			return Var{}, 0, needMore, nil
		}
	}
	return Var{}, 0, needMore, nil
}

// hexString parses "6F 1C 8A ... " at pos, continued on following lines after every
// 16 octets.
func (p *logParser) hexString(pos int) (Var, int, status, error) {
	b := p.buf
	var out []byte
	i := pos
	for {
		// Octets of this line: "XX " repeated.
		n := 0
		for i+2 < len(b) && isHex(b[i]) && isHex(b[i+1]) && b[i+2] == ' ' {
			var x [1]byte
			hex.Decode(x[:], b[i:i+2])
			out = append(out, x[0])
			i += 3
			n++
		}
		if i >= len(b) {
			return Var{}, 0, needMore, nil
		}
		if b[i] != '\t' && b[i] != '\n' {
			return Var{}, skipLine(b, i), done, malformed("Hex-STRING value near %.40q", b[i:min(len(b), i+40)])
		}
		// snmptrapd breaks a Hex-STRING after 16 octets; continue when the next line
		// is more hex octets, wait when it has begun and may be.
		if b[i] == '\n' && n == 16 {
			switch hexLine(b, i+1) {
			case lineHex:
				i++
				continue
			case lineMaybe:
				return Var{}, 0, needMore, nil
			}
		}
		return Var{Kind: KindOctets, Bytes: out}, i, done, nil
	}
}

func skipLine(b []byte, i int) int {
	if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(b)
}

type hexLineKind int

const (
	lineOther hexLineKind = iota // not a Hex-STRING continuation, or nothing there yet
	lineHex                      // "XX XX ... " up to a TAB or newline
	lineMaybe                    // incomplete, and so far it could be lineHex
)

// hexLine tells whether the line at i continues a Hex-STRING: hex octets "XX " up to
// its TAB or newline. An empty remainder is lineOther: snmptrapd writes a record in
// one write, so nothing there means the record ended.
func hexLine(b []byte, i int) hexLineKind {
	if i >= len(b) {
		return lineOther
	}
	n := 0
	for ; i < len(b); i++ {
		c := b[i]
		switch n % 3 {
		case 0, 1:
			if !isHex(c) {
				if n%3 == 0 && n > 0 && (c == '\t' || c == '\n') {
					return lineHex
				}
				return lineOther
			}
		case 2:
			if c != ' ' {
				return lineOther
			}
		}
		n++
	}
	return lineMaybe
}

// continuesHex reports whether the line at i is a complete Hex-STRING continuation.
func continuesHex(b []byte, i int) bool { return hexLine(b, i) == lineHex }

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f')
}
