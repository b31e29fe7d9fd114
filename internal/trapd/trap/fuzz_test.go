package trap

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// FuzzDecode feeds anything to the datagram decoder the listener uses: it must never
// panic (gosnmp panics are recovered into ErrPanic) and every error must be one of the
// documented kinds.
func FuzzDecode(f *testing.F) {
	for _, p := range lab.PcapPayloads(f, "testdata/libvirt-snmp-traps.pcap") {
		f.Add(p)
		f.Add(p[:len(p)/2])
	}
	f.Add(v3Trap(f, "alice", "engine-fuzz"))
	f.Add(v3Message(f, &gosnmp.UsmSecurityParameters{UserName: "carol", AuthoritativeEngineID: "engine-fuzz-c",
		AuthenticationProtocol: gosnmp.MD5, AuthenticationPassphrase: "carol-auth-pass"}, gosnmp.AuthNoPriv, libvirtmib.GuestNotif))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Add(discoveryProbe)
	// Informs to the test engine, outside its window at at (so Reported) and within it.
	at := testEngine.Start.Add(1000 * time.Second)
	late := &gosnmp.UsmSecurityParameters{UserName: "carol", AuthoritativeEngineID: string(testEngine.ID), AuthoritativeEngineBoots: 3,
		AuthoritativeEngineTime: 5000, AuthenticationProtocol: gosnmp.MD5, AuthenticationPassphrase: "carol-auth-pass"}
	f.Add(v3Inform(f, late, gosnmp.AuthNoPriv))
	timely := late.Copy().(*gosnmp.UsmSecurityParameters)
	timely.AuthoritativeEngineTime = 1000
	f.Add(v3Inform(f, timely, gosnmp.AuthNoPriv))
	d := testDecoder(f)
	src := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, pkt, err := d.DecodePacket(b, src, at)
		if errors.Is(err, ErrDiscovery) {
			// The probe's Report is built from the same hostile bytes.
			if _, err := d.DiscoveryReport(b, time.Time{}); err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("DiscoveryReport error of an unknown kind: %v", err)
			}
			return
		}
		if errors.Is(err, ErrNotInTimeWindow) {
			// Only an authenticated inform gets here; its Report must always build.
			if _, err := d.TimeWindowReport(pkt, at); err != nil {
				t.Fatalf("TimeWindowReport: %v", err)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrCommunity) && !errors.Is(err, ErrUser) && !errors.Is(err, ErrAuth) {
				t.Fatalf("Decode error of an unknown kind: %v", err)
			}
			return
		}
		if _, err := tr.Guest(); err != nil && !errors.Is(err, ErrNotGuest) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Guest error of an unknown kind: %v", err)
		}
		_ = tr.Text()
	})
}

// FuzzParseLog feeds anything to the snmptrapd log parser: it must not panic, must
// consume a prefix of its input made of the records it returns, in order, and must
// give the same records when parsing that prefix alone.
func FuzzParseLog(f *testing.F) {
	files, _ := filepath.Glob("testdata/snmptrapd-*.log")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/3])
	}
	f.Add([]byte("VCRTRAP 1 0 0 . UDP: [::1]:5\t.1.3.6.1.2.1.1.3.0 = Timeticks: (1) 0:00:00.01\t.1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, n := ParseLog(b, time.UTC)
		if n < 0 || n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		pos := 0
		for _, r := range recs {
			if r.Start < pos || r.End <= r.Start || r.End > n {
				t.Fatalf("record %d-%d out of order (previous end %d, consumed %d)", r.Start, r.End, pos, n)
			}
			pos = r.End
			if r.Err == nil {
				r.Trap.Guest()
			} else if !errors.Is(r.Err, ErrMalformed) {
				t.Fatalf("record error of an unknown kind: %v", r.Err)
			}
		}
		again, m := ParseLog(b[:n], time.UTC)
		if m != n || len(again) != len(recs) {
			t.Fatalf("prefix of %d bytes parses to %d records consuming %d, the whole input to %d", n, len(again), m, len(recs))
		}
		for i := range again {
			if again[i].Start != recs[i].Start || again[i].End != recs[i].End || (again[i].Err == nil) != (recs[i].Err == nil) {
				t.Fatalf("record %d differs when parsing the prefix alone", i)
			}
		}
	})
}

// snmptrapdString formats an OCTET STRING as net-snmp 5.9 does with -On and no MIB:
// STRING with only " and \ escaped when every octet is printable or white space
// (isprint/isspace in the C locale), else Hex-STRING, 16 octets per line.
func snmptrapdString(b []byte) string {
	text := len(b) > 0
	for _, c := range b {
		if !(c >= 0x20 && c < 0x7f) && !(c >= '\t' && c <= '\r') {
			text = false
		}
	}
	if len(b) == 0 {
		return `""`
	}
	if text {
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
		return `STRING: "` + r.Replace(string(b)) + `"`
	}
	var sb strings.Builder
	sb.WriteString("Hex-STRING: ")
	for i, c := range b {
		if i > 0 && i%16 == 0 {
			sb.WriteString("\n")
		}
		fmt.Fprintf(&sb, "%02X ", c)
	}
	return sb.String()
}

// FuzzLogRoundTrip formats a libvirtGuestNotif the way snmptrapd logs it (default and
// one-line formats) and checks that the parser gives back the same guest, whatever
// octets the name and UUID hold: the STRING-vs-Hex-STRING and raw TAB/newline pitfalls.
func FuzzLogRoundTrip(f *testing.F) {
	f.Add("web2", []byte{0x6f, 0x1c, 0x8a, 0x52, 0x3e, 0x0b, 0x4d, 0x5e, 0x9a, 0x77, 0x0c, 0x1d, 0x2e, 0x3f, 0x4a, 0x02}, 5, 2, false)
	f.Add(`we"b\2`, []byte("A\"\n\\\tBCDEFGHIJKL"), 6, 2, true)
	f.Add("x\ty", []byte("ABCDEFGHIPQRSTUV"), 0, 1, false)
	f.Fuzz(func(t *testing.T, name string, uuid []byte, state, rowStatus int, oneLine bool) {
		if len(uuid) != 16 || len(name) == 0 || len(name) > maxName || state < 0 || state > 7 || rowStatus < 1 || rowStatus > 6 {
			return
		}
		vbs := ".1.3.6.1.2.1.1.3.0 = Timeticks: (36) 0:00:00.36\t.1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.4.1.36957.0.1" +
			"\t.1.3.6.1.4.1.36957.1.1.1.2.0 = " + snmptrapdString([]byte(name)) +
			"\t.1.3.6.1.4.1.36957.1.1.1.1.0 = " + snmptrapdString(uuid) +
			fmt.Sprintf("\t.1.3.6.1.4.1.36957.1.1.1.3.0 = INTEGER: %d\t.1.3.6.1.4.1.36957.1.1.1.9.0 = INTEGER: %d\n", state, rowStatus)
		rec := "2026-11-22 03:34:48 UDP: [127.0.0.1]:1->[127.0.0.1]:2 [UDP: [127.0.0.1]:1->[127.0.0.1]:2]:\n" + vbs
		if oneLine {
			rec = "VCRTRAP 1795318949 0 0 . UDP: [127.0.0.1]:1->[127.0.0.1]:2\t" + vbs
		}
		// A name or UUID holding a newline followed by a whole record header makes the
		// parser resynchronise there, by design (trapd/README.md: use -Ox to avoid it).
		p := logParser{buf: []byte(rec)}
		for i := 1; i < len(rec); i++ {
			if rec[i-1] == '\n' && p.startsRecord(i) {
				return
			}
		}
		in := rec + rec // the second copy checks that the first ends where it should
		recs, n := ParseLog([]byte(in), time.UTC)
		if n != len(in) || len(recs) != 2 {
			t.Fatalf("%q: %d records, consumed %d of %d", in, len(recs), n, len(in))
		}
		for _, r := range recs {
			if r.Err != nil {
				t.Fatalf("%q: %v", in, r.Err)
			}
			g, err := r.Trap.Guest()
			if err != nil {
				t.Fatalf("%q: %v", in, err)
			}
			if g.Name != strings.ToValidUTF8(name, "\uFFFD") || string(g.UUID[:]) != string(uuid) || int(g.State) != state || int(g.RowStatus) != rowStatus {
				t.Fatalf("%q: got %+v", in, g)
			}
		}
	})
}
