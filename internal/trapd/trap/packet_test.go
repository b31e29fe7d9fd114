package trap

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// decodeV2c decodes a datagram the way the listener does for SNMPv1/v2c.
func decodeV2c(t testing.TB, b []byte) *gosnmp.SnmpPacket {
	t.Helper()
	pkt, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).UnmarshalTrap(b, false)
	if err != nil {
		t.Fatalf("UnmarshalTrap: %v", err)
	}
	return pkt
}

// TestRealAgentTraps decodes the real libvirt-snmp agent's traps
// (testdata/libvirt-snmp-traps.pcap): snmpd's coldStart, guest traps for start,
// destroy, start, suspend, resume, shutdown, start, then nsNotifyShutdown.
func TestRealAgentTraps(t *testing.T) {
	src := netip.MustParseAddr("127.0.0.1")
	at := time.Unix(1795318000, 0)
	type row struct {
		Header    Header
		TrapOID   string
		Guest     bool
		Name      string
		UUID      string
		State     libvirtmib.GuestState
		RowStatus libvirtmib.RowStatus
	}
	var got []row
	for i, p := range lab.PcapPayloads(t, "testdata/libvirt-snmp-traps.pcap") {
		h, err := PeekHeader(p)
		if err != nil {
			t.Fatalf("packet %d: PeekHeader: %v", i, err)
		}
		tr, err := FromPacket(decodeV2c(t, p), src, at)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		r := row{Header: h, TrapOID: tr.TrapOID}
		g, err := tr.Guest()
		switch {
		case errors.Is(err, ErrNotGuest):
		case err != nil:
			t.Fatalf("packet %d: Guest: %v", i, err)
		default:
			if g.Source != src || !g.Received.Equal(at) {
				t.Errorf("packet %d: source %v received %v", i, g.Source, g.Received)
			}
			r.Guest, r.Name, r.UUID, r.State, r.RowStatus = true, g.Name, g.UUID.String(), g.State, g.RowStatus
		}
		got = append(got, r)
	}
	h := Header{Version: Version2c, Community: []byte("public")}
	guest := func(s libvirtmib.GuestState) row {
		// The domain the capture was taken with (shared/testdata).
		return row{Header: h, TrapOID: libvirtmib.GuestNotif, Guest: true, Name: "lvtest",
			UUID: "6a3c1b2e-5d4f-4e8a-9b7c-0123456789ab", State: s, RowStatus: s.RowStatus()}
	}
	want := []row{
		{Header: h, TrapOID: ".1.3.6.1.6.3.1.1.5.1"},
		guest(1), guest(5), guest(1), guest(3), guest(1), guest(5), guest(1),
		{Header: h, TrapOID: ".1.3.6.1.4.1.8072.4.0.2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestFromPacketKinds(t *testing.T) {
	src := netip.MustParseAddr("192.0.2.7")
	guestVars := []gosnmp.SnmpPDU{
		{Name: libvirtmib.NotifName, Type: gosnmp.OctetString, Value: []byte("web2")},
		{Name: libvirtmib.NotifUUID, Type: gosnmp.OctetString, Value: []byte{0x6f, 0x1c, 0x8a, 0x52, 0x3e, 0x0b, 0x4d, 0x5e, 0x9a, 0x77, 0x0c, 0x1d, 0x2e, 0x3f, 0x4a, 0x02}},
		{Name: libvirtmib.NotifState, Type: gosnmp.Integer, Value: 6},
		{Name: libvirtmib.NotifRowStatus, Type: gosnmp.Integer, Value: 2},
	}
	v2head := []gosnmp.SnmpPDU{
		{Name: libvirtmib.SysUpTime, Type: gosnmp.TimeTicks, Value: uint32(42)},
		{Name: libvirtmib.SnmpTrapOID, Type: gosnmp.ObjectIdentifier, Value: libvirtmib.GuestNotif},
	}
	tests := []struct {
		name    string
		pkt     gosnmp.SnmpPacket
		wantOID string
		inform  bool
		version string
		wantErr error
	}{
		{name: "v2c trap", pkt: gosnmp.SnmpPacket{Version: gosnmp.Version2c, PDUType: gosnmp.SNMPv2Trap, Variables: append(v2head, guestVars...)},
			wantOID: libvirtmib.GuestNotif, version: "2c"},
		{name: "v2c inform", pkt: gosnmp.SnmpPacket{Version: gosnmp.Version2c, PDUType: gosnmp.InformRequest, Variables: append(v2head, guestVars...)},
			wantOID: libvirtmib.GuestNotif, version: "2c", inform: true},
		{name: "v1 enterprise specific", pkt: gosnmp.SnmpPacket{Version: gosnmp.Version1, PDUType: gosnmp.Trap, Variables: guestVars,
			SnmpTrap: gosnmp.SnmpTrap{AgentAddress: "192.0.2.9", Enterprise: ".1.3.6.1.4.1.36957", GenericTrap: 6, SpecificTrap: 1}},
			wantOID: libvirtmib.GuestNotif, version: "1"},
		{name: "v1 coldStart", pkt: gosnmp.SnmpPacket{Version: gosnmp.Version1, PDUType: gosnmp.Trap,
			SnmpTrap: gosnmp.SnmpTrap{AgentAddress: "192.0.2.9", Enterprise: ".1.3.6.1.4.1.8072", GenericTrap: 0}},
			wantOID: ".1.3.6.1.6.3.1.1.5.1", version: "1"},
		{name: "get request", pkt: gosnmp.SnmpPacket{Version: gosnmp.Version2c, PDUType: gosnmp.GetRequest, Variables: v2head}, wantErr: ErrMalformed},
		{name: "no sysUpTime", pkt: gosnmp.SnmpPacket{Version: gosnmp.Version2c, PDUType: gosnmp.SNMPv2Trap, Variables: v2head[1:]}, wantErr: ErrMalformed},
		{name: "v1 generic 9", pkt: gosnmp.SnmpPacket{Version: gosnmp.Version1, PDUType: gosnmp.Trap,
			SnmpTrap: gosnmp.SnmpTrap{AgentAddress: "192.0.2.9", Enterprise: ".1.3.6.1.4.1.8072", GenericTrap: 9}}, wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Through the wire, so the packet is what gosnmp really decodes.
			pkt := tt.pkt
			pkt.Community = "c"
			b, err := pkt.MarshalMsg()
			if err != nil {
				t.Fatal(err)
			}
			tr, err := FromPacket(decodeV2c(t, b), src, time.Time{})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("FromPacket error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			got := []any{tr.TrapOID, tr.Version, tr.Inform}
			if diff := cmp.Diff([]any{tt.wantOID, tt.version, tt.inform}, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if tt.wantOID == libvirtmib.GuestNotif {
				g, err := tr.Guest()
				if err != nil {
					t.Fatal(err)
				}
				if g.UUID.String() != "6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a02" || g.State != 6 || g.Name != "web2" {
					t.Errorf("guest %+v", g)
				}
			}
		})
	}
}

func TestGuestChecks(t *testing.T) {
	uuid := Var{OID: libvirtmib.NotifUUID, Kind: KindOctets, Bytes: make([]byte, 16)}
	name := Var{OID: libvirtmib.NotifName, Kind: KindOctets, Bytes: []byte("g")}
	state := func(n int64) Var { return Var{OID: libvirtmib.NotifState, Kind: KindInteger, Int: n} }
	rs := func(n int64) Var { return Var{OID: libvirtmib.NotifRowStatus, Kind: KindInteger, Int: n} }
	tests := []struct {
		name    string
		vars    []Var
		oid     string
		wantErr error
		want    libvirtmib.GuestState
	}{
		{name: "ok", vars: []Var{name, uuid, state(5), rs(2)}, want: 5},
		{name: "other order", vars: []Var{rs(1), state(1), uuid, name}, want: 1},
		{name: "nostate 0", vars: []Var{name, uuid, state(0), rs(1)}, want: 0},
		{name: "pmsuspended 7", vars: []Var{name, uuid, state(7), rs(1)}, want: 7},
		{name: "state 8", vars: []Var{name, uuid, state(8), rs(1)}, wantErr: ErrMalformed},
		{name: "state -1", vars: []Var{name, uuid, state(-1), rs(1)}, wantErr: ErrMalformed},
		{name: "row status 0", vars: []Var{name, uuid, state(1), rs(0)}, wantErr: ErrMalformed},
		{name: "row status 7", vars: []Var{name, uuid, state(1), rs(7)}, wantErr: ErrMalformed},
		{name: "no name", vars: []Var{uuid, state(1), rs(1)}, wantErr: ErrMalformed},
		{name: "empty name", vars: []Var{{OID: libvirtmib.NotifName, Kind: KindOctets}, uuid, state(1), rs(1)}, wantErr: ErrMalformed},
		{name: "no uuid", vars: []Var{name, state(1), rs(1)}, wantErr: ErrMalformed},
		{name: "no state", vars: []Var{name, uuid, rs(1)}, wantErr: ErrMalformed},
		{name: "no row status", vars: []Var{name, uuid, state(1)}, wantErr: ErrMalformed},
		{name: "uuid 15 octets", vars: []Var{name, {OID: libvirtmib.NotifUUID, Kind: KindOctets, Bytes: make([]byte, 15)}, state(1), rs(1)}, wantErr: ErrMalformed},
		{name: "uuid integer", vars: []Var{name, {OID: libvirtmib.NotifUUID, Kind: KindInteger}, state(1), rs(1)}, wantErr: ErrMalformed},
		{name: "state string", vars: []Var{name, uuid, {OID: libvirtmib.NotifState, Kind: KindOctets, Bytes: []byte("5")}, rs(1)}, wantErr: ErrMalformed},
		{name: "two states", vars: []Var{name, uuid, state(1), state(5), rs(1)}, wantErr: ErrMalformed},
		{name: "hinted uuid", vars: []Var{name, {OID: libvirtmib.NotifUUID, Kind: KindOctets, Hinted: true, Text: "c8a52-b-d5e-a77-e3f4a02"}, state(1), rs(1)}, want: 1},
		{name: "hinted uuid too long", vars: []Var{name, {OID: libvirtmib.NotifUUID, Kind: KindOctets, Hinted: true, Text: "1c8a52000-b-d5e-a77-e3f4a02"}, state(1), rs(1)}, wantErr: ErrMalformed},
		{name: "other notification", oid: ".1.3.6.1.6.3.1.1.5.1", vars: []Var{name, uuid, state(1), rs(1)}, wantErr: ErrNotGuest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oid := tt.oid
			if oid == "" {
				oid = libvirtmib.GuestNotif
			}
			g, err := Trap{TrapOID: oid, Vars: tt.vars}.Guest()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err == nil && g.State != tt.want {
				t.Errorf("state %v, want %v", g.State, tt.want)
			}
		})
	}
}

func TestParseHintedUUID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"6f1c8a52-3e0b-4d5e-9a77-c1d2e3f4a02", "6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a02"},
		{"c8a52-b-d5e-a77-e3f4a02", "000c8a52-000b-0d5e-0a77-00000e3f4a02"},
		{"0-0-0-0-0", "00000000-0000-0000-0000-000000000000"},
		{"41220A5C-942-4344-4546-4748494A4B4C", "41220a5c-0942-4344-4546-4748494a4b4c"},
	}
	for _, tt := range tests {
		u, err := parseHintedUUID(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if u.String() != tt.want {
			t.Errorf("%s: got %s, want %s", tt.in, u, tt.want)
		}
	}
	for _, bad := range []string{"", "1-2-3-4", "1-2-3-4-5-6", "g-0-0-0-0", "-0-0-0-0", "123456789-0-0-0-0"} {
		if u, err := parseHintedUUID(bad); err == nil {
			t.Errorf("%q: got %s, want an error", bad, u)
		}
	}
}

func TestV1TrapOID(t *testing.T) {
	tests := []struct {
		enterprise        string
		generic, specific int
		want              string
		wantErr           bool
	}{
		{".1.3.6.1.4.1.36957", 6, 1, libvirtmib.GuestNotif, false},
		{"1.3.6.1.4.1.36957", 6, 1, libvirtmib.GuestNotif, false},
		{".1.3.6.1.4.1.8072", 0, 0, ".1.3.6.1.6.3.1.1.5.1", false},
		{".1.3.6.1.4.1.8072", 5, 0, ".1.3.6.1.6.3.1.1.5.6", false},
		{"", 6, 1, "", true},
		{".1.3", 7, 0, "", true},
		{".1.3", 6, -1, "", true},
	}
	for _, tt := range tests {
		got, err := V1TrapOID(tt.enterprise, tt.generic, tt.specific)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("V1TrapOID(%q, %d, %d) = %q, %v; want %q, error %v", tt.enterprise, tt.generic, tt.specific, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestPeekHeader(t *testing.T) {
	v2 := gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "s3cret", PDUType: gosnmp.SNMPv2Trap,
		Variables: []gosnmp.SnmpPDU{{Name: libvirtmib.SysUpTime, Type: gosnmp.TimeTicks, Value: uint32(1)}}}
	b, err := v2.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	h, err := PeekHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Header{Version: Version2c, Community: []byte("s3cret")}, h); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	v3 := v3Trap(t, "alice", "engine-1")
	h, err = PeekHeader(v3)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != Version3 || h.User != "alice" || string(h.EngineID) != "engine-1" || h.SecurityModel != 3 || h.Flags&0x3 != 0x3 || h.EngineBoots != 7 || h.EngineTime != 1234 {
		t.Errorf("v3 header %+v", h)
	}
	for i := range v3 {
		if _, err := PeekHeader(v3[:i]); err == nil && i < 40 {
			t.Errorf("PeekHeader of the first %d octets: no error", i)
		}
	}
	for _, bad := range [][]byte{nil, {0x30}, {0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, {0x30, 0x03, 0x02, 0x01, 0x02}, {0x31, 0x00}} {
		if _, err := PeekHeader(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("PeekHeader(% x) error %v, want ErrMalformed", bad, err)
		}
	}
}

// v3Trap returns the bytes of an authPriv SNMPv3 trap (coldStart) from user with the
// test passphrases, boots 7, time 1234.
func v3Trap(t testing.TB, user, engineID string) []byte {
	t.Helper()
	return v3Message(t, &gosnmp.UsmSecurityParameters{
		UserName: user, AuthoritativeEngineID: engineID, AuthoritativeEngineBoots: 7, AuthoritativeEngineTime: 1234,
		AuthenticationProtocol: gosnmp.SHA, AuthenticationPassphrase: "authpass1",
		PrivacyProtocol: gosnmp.AES, PrivacyPassphrase: "privpass1",
	}, gosnmp.AuthPriv, ".1.3.6.1.6.3.1.1.5.1")
}

// v3Message returns the bytes of an SNMPv3 trap with the given security, as gosnmp
// sends it (caught on a local socket: gosnmp has no marshal-only call).
func v3Message(t testing.TB, usm *gosnmp.UsmSecurityParameters, flags gosnmp.SnmpV3MsgFlags, trapOID string) []byte {
	t.Helper()
	return v3Notification(t, usm, flags, trapOID, false)
}

// v3Inform is v3Message for an InformRequest (which gosnmp sends reportable).
func v3Inform(t testing.TB, usm *gosnmp.UsmSecurityParameters, flags gosnmp.SnmpV3MsgFlags) []byte {
	t.Helper()
	return v3Notification(t, usm, flags, ".1.3.6.1.6.3.1.1.5.1", true)
}

func v3Notification(t testing.TB, usm *gosnmp.UsmSecurityParameters, flags gosnmp.SnmpV3MsgFlags, trapOID string, inform bool) []byte {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: flags,
		SecurityParameters: usm, Target: "127.0.0.1", Port: uint16(pc.LocalAddr().(*net.UDPAddr).Port), Timeout: time.Second}
	if inform {
		g.Timeout = 50 * time.Millisecond // nobody answers: only the datagram is wanted
	}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Conn.Close()
	if _, err := g.SendTrap(gosnmp.SnmpTrap{IsInform: inform, Variables: []gosnmp.SnmpPDU{
		{Name: libvirtmib.SysUpTime, Type: gosnmp.TimeTicks, Value: uint32(1)},
		{Name: libvirtmib.SnmpTrapOID, Type: gosnmp.ObjectIdentifier, Value: trapOID},
	}}); err != nil && !inform {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}
