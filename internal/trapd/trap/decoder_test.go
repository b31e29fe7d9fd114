package trap

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/lab"
)

// testUsers are two authPriv users and one authNoPriv user.
func testUsers() []*gosnmp.UsmSecurityParameters {
	return []*gosnmp.UsmSecurityParameters{
		{UserName: "alice", AuthenticationProtocol: gosnmp.SHA, AuthenticationPassphrase: "authpass1",
			PrivacyProtocol: gosnmp.AES, PrivacyPassphrase: "privpass1"},
		{UserName: "bob", AuthenticationProtocol: gosnmp.SHA256, AuthenticationPassphrase: "bob-auth-pass",
			PrivacyProtocol: gosnmp.AES256, PrivacyPassphrase: "bob-priv-pass"},
		{UserName: "carol", AuthenticationProtocol: gosnmp.MD5, AuthenticationPassphrase: "carol-auth-pass"},
	}
}

// testEngine is the test decoders' own SNMPv3 engine.
var testEngine = &Engine{ID: EngineID("vcr-trapd@test"), Boots: 3, Start: time.Unix(1_700_000_000, 0)}

func testDecoder(t testing.TB) *Decoder {
	t.Helper()
	d, err := NewDecoder(DecoderOptions{Communities: [][]byte{[]byte("public"), []byte("other")}, Users: testUsers(), Engine: testEngine})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDecoder(t *testing.T) {
	d := testDecoder(t)
	users := testUsers()
	usm := func(i int, engine string, boots, tm uint32) *gosnmp.UsmSecurityParameters {
		u := users[i].Copy().(*gosnmp.UsmSecurityParameters)
		u.AuthoritativeEngineID, u.AuthoritativeEngineBoots, u.AuthoritativeEngineTime = engine, boots, tm
		return u
	}
	wrongPass := usm(0, "engine-A", 1, 100)
	wrongPass.AuthenticationPassphrase = "not-the-pass"
	wrongPriv := usm(1, "engine-B", 1, 100)
	wrongPriv.PrivacyPassphrase = "not-the-priv"
	noPriv := usm(0, "engine-A", 1, 100)
	noPriv.PrivacyProtocol = gosnmp.NoPriv
	mallory := usm(0, "engine-A", 1, 100)
	mallory.UserName = "mallory"
	v2 := func(community string) []byte {
		pkt := gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: community, PDUType: gosnmp.SNMPv2Trap,
			Variables: []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(1)},
				{Name: ".1.3.6.1.6.3.1.1.4.1.0", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.6.3.1.1.5.1"}}}
		b, err := pkt.MarshalMsg()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// In order: the timeliness checks depend on what was accepted before.
	tests := []struct {
		name    string
		msg     []byte
		wantErr error
		user    string
	}{
		{name: "v2c public", msg: v2("public")},
		{name: "v2c other", msg: v2("other")},
		{name: "v2c wrong community", msg: v2("publi"), wantErr: ErrCommunity},
		{name: "v2c empty community", msg: v2(""), wantErr: ErrCommunity},
		{name: "v3 alice authPriv", msg: v3Message(t, usm(0, "engine-A", 3, 1000), gosnmp.AuthPriv, ".1.3.6.1.6.3.1.1.5.1"), user: "alice"},
		{name: "v3 bob authPriv", msg: v3Message(t, usm(1, "engine-B", 1, 10), gosnmp.AuthPriv, ".1.3.6.1.6.3.1.1.5.1"), user: "bob"},
		{name: "v3 carol authNoPriv", msg: v3Message(t, usm(2, "engine-C", 1, 10), gosnmp.AuthNoPriv, ".1.3.6.1.6.3.1.1.5.1"), user: "carol"},
		{name: "v3 unknown user", msg: v3Message(t, mallory, gosnmp.AuthPriv, ".1.3.6.1.6.3.1.1.5.1"), wantErr: ErrUser},
		{name: "v3 wrong auth passphrase", msg: v3Message(t, wrongPass, gosnmp.AuthPriv, ".1.3.6.1.6.3.1.1.5.1"), wantErr: ErrAuth},
		{name: "v3 wrong priv passphrase", msg: v3Message(t, wrongPriv, gosnmp.AuthPriv, ".1.3.6.1.6.3.1.1.5.1"), wantErr: ErrAuth},
		{name: "v3 authNoPriv from an authPriv user", msg: v3Message(t, noPriv, gosnmp.AuthNoPriv, ".1.3.6.1.6.3.1.1.5.1"), wantErr: ErrAuth},
		{name: "v3 old boots (replay)", msg: v3Message(t, usm(0, "engine-A", 2, 5000), gosnmp.AuthPriv, ".1.3.6.1.6.3.1.1.5.1"), wantErr: ErrAuth},
		{name: "v3 time 151 s behind", msg: v3Message(t, usm(0, "engine-A", 3, 849), gosnmp.AuthPriv, ".1.3.6.1.6.3.1.1.5.1"), wantErr: ErrAuth},
		{name: "v3 time 150 s behind", msg: v3Message(t, usm(0, "engine-A", 3, 850), gosnmp.AuthPriv, ".1.3.6.1.6.3.1.1.5.1"), user: "alice"},
		{name: "truncated", msg: v2("public")[:20], wantErr: ErrMalformed},
		{name: "random", msg: []byte("\x30\x10 hello, world!!!"), wantErr: ErrMalformed},
		{name: "empty", msg: nil, wantErr: ErrMalformed},
	}
	src := netip.MustParseAddr("127.0.0.1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := d.Decode(tt.msg, src, time.Now())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Decode error %v, want %v", err, tt.wantErr)
			}
			if err == nil && (tr.User != tt.user || tr.TrapOID != ".1.3.6.1.6.3.1.1.5.1") {
				t.Errorf("trap user %q OID %s", tr.User, tr.TrapOID)
			}
		})
	}
}

func TestDecoderRefusesNoAuthUser(t *testing.T) {
	_, err := NewDecoder(DecoderOptions{Users: []*gosnmp.UsmSecurityParameters{{UserName: "x"}}})
	if err == nil {
		t.Error("NewDecoder with a noAuthNoPriv user: no error")
	}
}

// TestDecoderNoCommunities: without an allow-list every v1/v2c message is refused.
func TestDecoderNoCommunities(t *testing.T) {
	d, err := NewDecoder(DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lab.PcapPayloads(t, "testdata/libvirt-snmp-traps.pcap") {
		if _, err := d.Decode(p, netip.Addr{}, time.Time{}); !errors.Is(err, ErrCommunity) {
			t.Fatalf("Decode error %v, want ErrCommunity", err)
		}
	}
}
