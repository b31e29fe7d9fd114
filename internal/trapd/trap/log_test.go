package trap

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// logRow summarises one parsed record for comparison.
type logRow struct {
	Kind      string // guest, other, malformed
	Version   string
	Source    string
	TrapOID   string
	Name      string
	UUID      string
	State     libvirtmib.GuestState
	RowStatus libvirtmib.RowStatus
}

func summarise(recs []LogRecord) []logRow {
	var out []logRow
	for _, r := range recs {
		if r.Err != nil {
			out = append(out, logRow{Kind: "malformed"})
			continue
		}
		row := logRow{Kind: "other", Version: r.Trap.Version, Source: r.Trap.Source.String(), TrapOID: r.Trap.TrapOID}
		g, err := r.Trap.Guest()
		switch {
		case errors.Is(err, ErrNotGuest):
		case err != nil:
			row = logRow{Kind: "malformed"}
		default:
			row.Kind, row.Name, row.UUID, row.State, row.RowStatus = "guest", g.Name, g.UUID.String(), g.State, g.RowStatus
		}
		out = append(out, row)
	}
	return out
}

// wantCapture is what testdata/capture.sh sends, in order, in every log form.
func wantCapture() []logRow {
	lo := "127.0.0.1"
	g := func(ver, src, name, uuid string, s libvirtmib.GuestState, rs libvirtmib.RowStatus) logRow {
		return logRow{"guest", ver, src, libvirtmib.GuestNotif, name, uuid, s, rs}
	}
	return []logRow{
		g("2", lo, "web2", "6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a02", 5, 2),
		g("2", lo, `we"b 2`, "41424344-4546-4748-4950-515253545556", 6, 2), // printable: STRING
		g("2", lo, "zeros", "000c8a52-000b-0d5e-0a77-00000e3f4a02", 1, 1),
		g("2", lo, "ws", "41220a5c-0942-4344-4546-4748494a4b4c", 0, 1), // " \n \ TAB in the UUID
		g("2", lo, "pm", "6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a07", 7, 1),
		{Kind: "other", Version: "2", Source: lo, TrapOID: ".1.3.6.1.6.3.1.1.5.1"},
		g("1", lo, "web2", "6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a02", 1, 1),
		{Kind: "other", Version: "1", Source: lo, TrapOID: ".1.3.6.1.6.3.1.1.5.1"},
		{Kind: "other", Version: "2", Source: lo, TrapOID: ".1.3.6.1.4.1.99.0.7"},
		{Kind: "malformed"}, // no libvirtGuestRowStatus
		{Kind: "malformed"}, // libvirtGuestState as STRING
		g("2", "::1", "web1", "6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01", 5, 2),
	}
}

func TestParseLogCaptures(t *testing.T) {
	for _, name := range []string{"numeric", "numeric-hex", "mib", "mib-numeric", "oneline", "oneline-mib"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile("testdata/snmptrapd-" + name + ".log")
			if err != nil {
				t.Fatal(err)
			}
			recs, n := ParseLog(b, time.Local)
			if n != len(b) {
				t.Errorf("consumed %d of %d bytes; left %q", n, len(b), b[n:])
			}
			if diff := cmp.Diff(wantCapture(), summarise(recs)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			// The non-guest trap with the long Hex-STRING, Counter64 and IpAddress.
			if len(recs) > 8 {
				want := []Var{
					{OID: ".1.3.6.1.4.1.99.1", Kind: KindOctets, Bytes: []byte{
						0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
						0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
						0x01, 0x23, 0x45, 0x67, 0x89}},
					{OID: ".1.3.6.1.4.1.99.2", Kind: KindCounter64, Int: 12345678901},
					{OID: ".1.3.6.1.4.1.99.3", Kind: KindIPAddress, Text: "10.1.2.3"},
					{OID: ".1.3.6.1.4.1.99.4", Kind: KindOctets, Bytes: []byte{
						0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}},
				}
				if diff := cmp.Diff(want, recs[8].Trap.Vars); diff != "" {
					t.Errorf("varbinds of the non-guest trap (-want +got)\n%s", diff)
				}
			}
			for _, r := range recs {
				want := strings.ReplaceAll(strings.TrimRight(string(b[r.Start:r.End]), "\n"), "community public", "community <secret>")
				if r.Err == nil && r.Trap.Raw != want {
					t.Errorf("record %d-%d: Raw %q is not the record's text (community hidden)", r.Start, r.End, r.Trap.Raw)
				}
				if strings.Contains(r.Trap.Raw, "public") {
					t.Errorf("record %d-%d: Raw shows the community: %q", r.Start, r.End, r.Trap.Raw)
				}
			}
		})
	}
}

// TestParseLogTimes checks the two time sources: local time of the default header and
// seconds since the epoch of the one-line format.
func TestParseLogTimes(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	in := "2026-11-22 03:34:48 UDP: [10.0.0.1]:1->[10.0.0.2]:162 [UDP: [10.0.0.1]:1->[10.0.0.2]:162]:\n" +
		".1.3.6.1.2.1.1.3.0 = Timeticks: (36) 0:00:00.36\t.1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.6.3.1.1.5.1\n" +
		"VCRTRAP 1795318949 0 0 . UDP: [10.0.0.3]:5->[10.0.0.2]:162\t.1.3.6.1.2.1.1.3.0 = Timeticks: (1) 0:00:00.01\t.1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.6.3.1.1.5.1\n"
	recs, n := ParseLog([]byte(in), loc)
	if n != len(in) || len(recs) != 2 || recs[0].Err != nil || recs[1].Err != nil {
		t.Fatalf("ParseLog: %d records, %d of %d bytes: %+v", len(recs), n, len(in), recs)
	}
	want := []string{"2026-11-22T02:34:48Z 10.0.0.1", "2026-11-22T03:42:29Z 10.0.0.3"}
	got := []string{
		recs[0].Trap.Received.UTC().Format(time.RFC3339) + " " + recs[0].Trap.Source.String(),
		recs[1].Trap.Received.UTC().Format(time.RFC3339) + " " + recs[1].Trap.Source.String(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// TestParseLogIncremental feeds each capture cut at every offset: the first part, then
// the rest appended. The records must be those of a single parse, except where a cut
// falls right after a 16-octet Hex-STRING line that the next line continues: the
// parser cannot know that more is coming (snmptrapd writes a record in one write(2),
// so a follower never sees such a cut in practice).
func TestParseLogIncremental(t *testing.T) {
	for _, name := range []string{"numeric", "mib", "oneline"} {
		b, err := os.ReadFile("testdata/snmptrapd-" + name + ".log")
		if err != nil {
			t.Fatal(err)
		}
		whole, _ := ParseLog(b, time.Local)
		want := summarise(whole)
		for cut := 1; cut < len(b); cut++ {
			recs, n := ParseLog(b[:cut], time.Local)
			rest, m := ParseLog(b[n:], time.Local)
			for i := range rest {
				rest[i].Start += n
				rest[i].End += n
			}
			if n+m != len(b) {
				t.Fatalf("%s cut at %d: consumed %d+%d of %d", name, cut, n, m, len(b))
			}
			got := summarise(append(recs, rest...))
			if diff := cmp.Diff(want, got); diff != "" {
				if b[cut-1] == '\n' && cut >= 2 && b[cut-2] == ' ' && continuesHex(b, cut) {
					continue
				}
				t.Fatalf("%s cut at %d (after %q): (-want +got)\n%s", name, cut, b[max(0, cut-20):cut], diff)
			}
		}
	}
}

func TestParseLogBadInput(t *testing.T) {
	head := "2026-11-22 03:34:48 UDP: [127.0.0.1]:1->[127.0.0.1]:2 [UDP: [127.0.0.1]:1->[127.0.0.1]:2]:\n"
	good := ".1.3.6.1.2.1.1.3.0 = Timeticks: (36) 0:00:00.36\t.1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.6.3.1.1.5.1\n"
	tests := []struct {
		name     string
		in       string
		want     []string // per record: "ok" or "malformed"
		consumed int      // -1: all
	}{
		{"good", head + good, []string{"ok"}, -1},
		{"noise only", "NET-SNMP version 5.9.3\nStopping snmptrapd\n\n", nil, -1},
		{"half line waits", head + good[:30], nil, 0},
		{"header without varbinds, then a record", head + head + good, []string{"malformed", "ok"}, -1},
		{"garbage line", "hello world\n" + head + good, []string{"malformed", "ok"}, -1},
		{"varbind without =", head + "just text\n" + head + good, []string{"malformed", "ok"}, -1},
		{"cut inside quotes, next record resyncs", head + `.1.3.6.1.2.1.1.3.0 = STRING: "abc` + "\n" + head + good, []string{"malformed", "ok"}, -1},
		{"bad timeticks", head + ".1.3.6.1.2.1.1.3.0 = Timeticks: 36\n", []string{"malformed"}, -1},
		{"bad integer", head + ".1.3 = INTEGER: five\n", []string{"malformed"}, -1},
		{"missing trap oid", head + ".1.3.6.1.2.1.1.3.0 = Timeticks: (36) 0:00:00.36\n", []string{"malformed"}, -1},
		{"text after a quote", head + `.1.3 = STRING: "a"b` + "\n", []string{"malformed"}, -1},
		{"bad hex", head + ".1.3 = Hex-STRING: 0G \n", []string{"malformed"}, -1},
		{"one-line without tab", "VCRTRAP 1 0 0 . UDP: [1.2.3.4]:5\n", []string{"malformed"}, -1},
		{"one-line bad time", "VCRTRAP x 0 0 . UDP: [1.2.3.4]:5\t\n", []string{"malformed"}, -1},
		{"one-line v1 without enterprise", "VCRTRAP 1 6 1 . UDP: [1.2.3.4]:5\t\n", []string{"malformed"}, -1},
		{"v1 bad trap line", "2026-11-22 03:34:48 1.2.3.4 [1.2.3.4] (via UDP: [1.2.3.4]:5->[1.2.3.5]:162) TRAP, SNMP v1, community x\n\tjunk\n", []string{"malformed"}, -1},
		{"bad time", "2026-13-22 03:34:48 UDP: [x]:1 [UDP: [x]:1]:\n" + good, []string{"malformed", "malformed"}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, n := ParseLog([]byte(tt.in), time.UTC)
			var got []string
			for _, r := range recs {
				if r.Err != nil {
					if !errors.Is(r.Err, ErrMalformed) {
						t.Errorf("error %v does not wrap ErrMalformed", r.Err)
					}
					got = append(got, "malformed")
				} else {
					got = append(got, "ok")
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			want := tt.consumed
			if want < 0 {
				want = len(tt.in)
			}
			if n != want {
				t.Errorf("consumed %d, want %d", n, want)
			}
		})
	}
}

// TestParseLogBounded: an unterminated quote does not hold the buffer forever.
func TestParseLogBounded(t *testing.T) {
	in := "2026-11-22 03:34:48 UDP: [127.0.0.1]:1->[127.0.0.1]:2 [UDP: [127.0.0.1]:1->[127.0.0.1]:2]:\n" +
		`.1.3 = STRING: "` + strings.Repeat("x\n", MaxLogRecord)
	recs, n := ParseLog([]byte(in), time.UTC)
	if len(recs) == 0 || recs[0].Err == nil || n == 0 {
		t.Fatalf("ParseLog of an endless quote: %d records, consumed %d", len(recs), n)
	}
}

func TestNumericOID(t *testing.T) {
	tests := map[string]string{
		".1.3.6.1.2.1.1.3.0":                  ".1.3.6.1.2.1.1.3.0",
		"SNMPv2-MIB::sysUpTime.0":             ".1.3.6.1.2.1.1.3.0",
		"DISMAN-EVENT-MIB::sysUpTimeInstance": ".1.3.6.1.2.1.1.3.0",
		"LIBVIRT-MIB::libvirtGuestNotif":      libvirtmib.GuestNotif,
		"libvirtGuestState.0":                 libvirtmib.NotifState,
		"SNMPv2-SMI::enterprises.99.0.7":      ".1.3.6.1.4.1.99.0.7",
		".iso.org.dod.internet.private.enterprises.libvirtMIB.libvirtObjects.libvirtGuestTable.libvirtGuestEntry.libvirtGuestName.0": libvirtmib.NotifName,
		"FOO-MIB::fooThing.3":                 "FOO-MIB::fooThing.3",
		"LIBVIRT-MIB::libvirtGuestName.\"x\"": "LIBVIRT-MIB::libvirtGuestName.\"x\"",
		"":                                    "",
	}
	for in, want := range tests {
		if got := numericOID(in); got != want {
			t.Errorf("numericOID(%q) = %q, want %q", in, got, want)
		}
	}
}
