package trap

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// discoveryProbe is an engine ID discovery as net-snmp's snmpinform sends one first:
// SNMPv3, flags reportable only, empty engine ID and user, an empty GetRequest.
var discoveryProbe = func() []byte {
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: gosnmp.Reportable, SecurityModel: gosnmp.UserSecurityModel,
		SecurityParameters: &gosnmp.UsmSecurityParameters{Logger: gosnmp.NewLogger(nil)}, MsgID: 0x2507ad7f, MsgMaxSize: 65507,
		PDUType: gosnmp.GetRequest, RequestID: 0x553ae6cf}
	b, err := p.MarshalMsg()
	if err != nil {
		panic(err)
	}
	return b
}()

func TestNextBoots(t *testing.T) {
	f := filepath.Join(t.TempDir(), "trapd", "engine-boots")
	for want := int64(1); want <= 3; want++ {
		if got, err := NextBoots(f); err != nil || got != want {
			t.Fatalf("start %d: boots %d, %v", want, got, err)
		}
	}
	os.WriteFile(f, []byte("many\n"), 0o600)
	if _, err := NextBoots(f); err == nil {
		t.Error("a boots file that holds no count was accepted")
	}
	os.WriteFile(f, []byte("2147483647\n"), 0o600)
	if got, err := NextBoots(f); err != nil || got != 2147483647 {
		t.Errorf("the latched maximum: %d %v", got, err)
	}
}

func TestEngineTimely(t *testing.T) {
	at := testEngine.Start.Add(1000 * time.Second)
	for _, tt := range []struct {
		boots, time int64
		ok          bool
	}{
		{3, 1000, true}, {3, 850, true}, {3, 1150, true},
		{3, 849, false}, {3, 1151, false}, {2, 1000, false}, {4, 1000, false},
	} {
		if got := testEngine.timely(Header{EngineBoots: tt.boots, EngineTime: tt.time}, at); got != tt.ok {
			t.Errorf("boots %d time %d: timely %v, want %v", tt.boots, tt.time, got, tt.ok)
		}
	}
}

// TestDiscovery: the probe is recognised and answered with a Report that carries the
// engine's ID, boots and time and the probe's IDs; without users there is no engine.
func TestDiscovery(t *testing.T) {
	d := testDecoder(t)
	src := netip.MustParseAddr("127.0.0.1")
	if _, err := d.Decode(discoveryProbe, src, time.Now()); !errors.Is(err, ErrDiscovery) {
		t.Fatalf("probe: %v, want ErrDiscovery", err)
	}
	at := testEngine.Start.Add(42 * time.Second)
	b, err := d.DiscoveryReport(discoveryProbe, at)
	if err != nil {
		t.Fatal(err)
	}
	g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, SecurityParameters: &gosnmp.UsmSecurityParameters{}}
	rep, err := g.UnmarshalTrap(b, false)
	if err != nil {
		t.Fatal(err)
	}
	sp := rep.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	if rep.PDUType != gosnmp.Report || sp.AuthoritativeEngineID != string(testEngine.ID) || sp.AuthoritativeEngineBoots != 3 ||
		sp.AuthoritativeEngineTime != 42 || rep.MsgID != 0x2507ad7f || rep.RequestID != 0x553ae6cf ||
		len(rep.Variables) != 1 || rep.Variables[0].Name != usmStatsUnknownEngineIDs {
		t.Errorf("report %+v %+v", rep, sp)
	}
	plain, err := NewDecoder(DecoderOptions{Communities: [][]byte{[]byte("public")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Decode(discoveryProbe, src, time.Now()); !errors.Is(err, ErrUser) {
		t.Errorf("probe without users: %v, want ErrUser", err)
	}
}

// TestTimeWindowReport: an authenticated inform to this engine whose boots or time lie
// outside its window is answered with a Report that the sender can authenticate with
// the user's key (authNoPriv, not reportable), carrying usmStatsNotInTimeWindows and
// this engine's ID, boots and time; a bad digest, an out-of-window trap, and an inform
// not sent reportable get no Report, and an inform within the window is handed on.
func TestTimeWindowReport(t *testing.T) {
	d := testDecoder(t)
	users := testUsers()
	at := testEngine.Start.Add(1000 * time.Second)
	usm := func(i int, boots, tm uint32) *gosnmp.UsmSecurityParameters {
		u := users[i].Copy().(*gosnmp.UsmSecurityParameters)
		u.AuthoritativeEngineID, u.AuthoritativeEngineBoots, u.AuthoritativeEngineTime = string(testEngine.ID), boots, tm
		return u
	}
	badDigest := usm(0, 3, 99999)
	badDigest.AuthenticationPassphrase = "not-the-pass"
	carolBad := usm(2, 2, 1000)
	carolBad.AuthenticationPassphrase = "not-carols-pass"
	// An inform not sent reportable: gosnmp always sets the flag, so the decoded inform
	// is marshalled again without it (under its own keys and salt).
	unreportable := func() []byte {
		_, pkt, err := d.DecodePacket(v3Inform(t, usm(0, 3, 99999), gosnmp.AuthPriv), netip.Addr{}, at)
		if !errors.Is(err, ErrNotInTimeWindow) {
			t.Fatalf("reportable inform: %v", err)
		}
		pkt.MsgFlags &^= gosnmp.Reportable
		b, err := pkt.MarshalMsg()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	reports := 0 // usmStatsNotInTimeWindows counts the Reports built: not the inform above
	for _, tt := range []struct {
		name    string
		user    int
		msg     []byte
		wantErr error
	}{
		{name: "authPriv, time far ahead", user: 0, msg: v3Inform(t, usm(0, 3, 99999), gosnmp.AuthPriv), wantErr: ErrNotInTimeWindow},
		{name: "authPriv SHA-256, time 151 s behind", user: 1, msg: v3Inform(t, usm(1, 3, 849), gosnmp.AuthPriv), wantErr: ErrNotInTimeWindow},
		{name: "authNoPriv, previous boots", user: 2, msg: v3Inform(t, usm(2, 2, 1000), gosnmp.AuthNoPriv), wantErr: ErrNotInTimeWindow},
		{name: "authNoPriv, boots 0 time 0 (time synchronisation)", user: 2, msg: v3Inform(t, usm(2, 0, 0), gosnmp.AuthNoPriv), wantErr: ErrNotInTimeWindow},
		{name: "within the window", user: 0, msg: v3Inform(t, usm(0, 3, 1100), gosnmp.AuthPriv)},
		{name: "bad digest", msg: v3Inform(t, badDigest, gosnmp.AuthPriv), wantErr: ErrAuth},
		{name: "bad digest authNoPriv", msg: v3Inform(t, carolBad, gosnmp.AuthNoPriv), wantErr: ErrAuth},
		{name: "trap under this engine's ID", msg: v3Message(t, usm(0, 3, 99999), gosnmp.AuthPriv, ".1.3.6.1.6.3.1.1.5.1"), wantErr: ErrAuth},
		{name: "inform not reportable", msg: unreportable, wantErr: ErrAuth},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, pkt, err := d.DecodePacket(tt.msg, netip.MustParseAddr("127.0.0.1"), at)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == ErrAuth) != errors.Is(err, ErrAuth) {
				t.Fatalf("DecodePacket error %v, want %v", err, tt.wantErr)
			}
			switch {
			case tt.wantErr == nil:
				if !tr.Inform || tr.User != users[tt.user].UserName {
					t.Errorf("inform within the window: %+v", tr)
				}
				return
			case tt.wantErr != ErrNotInTimeWindow:
				if pkt != nil {
					t.Errorf("a refused message returned its packet, for a Report")
				}
				return
			}
			b, err := d.TimeWindowReport(pkt, at.Add(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			reports++
			// The sender decodes the Report with its user's key localised to this
			// engine's ID, at authNoPriv.
			sender := func(authPass string) (*gosnmp.SnmpPacket, error) {
				u := usm(tt.user, 0, 0)
				u.AuthenticationPassphrase, u.PrivacyProtocol, u.PrivacyPassphrase = authPass, gosnmp.NoPriv, ""
				g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, SecurityParameters: u}
				return g.UnmarshalTrap(append([]byte(nil), b...), true)
			}
			if _, err := sender("a-wrong-passphrase"); err == nil {
				t.Fatal("the Report authenticates with a wrong passphrase too: not authenticated")
			}
			rep, err := sender(users[tt.user].AuthenticationPassphrase)
			if err != nil {
				t.Fatalf("the sender cannot authenticate the Report: %v", err)
			}
			sp := rep.SecurityParameters.(*gosnmp.UsmSecurityParameters)
			if rep.PDUType != gosnmp.Report || rep.MsgFlags != gosnmp.AuthNoPriv || rep.MsgID != pkt.MsgID || rep.RequestID != pkt.RequestID ||
				sp.UserName != users[tt.user].UserName || sp.AuthoritativeEngineID != string(testEngine.ID) ||
				sp.AuthoritativeEngineBoots != 3 || sp.AuthoritativeEngineTime != 1002 {
				t.Errorf("report %v flags %v msgID %d requestID %d, security %s %q boots %d time %d",
					rep.PDUType, rep.MsgFlags, rep.MsgID, rep.RequestID, sp.UserName, sp.AuthoritativeEngineID, sp.AuthoritativeEngineBoots, sp.AuthoritativeEngineTime)
			}
			if len(rep.Variables) != 1 || rep.Variables[0].Name != usmStatsNotInTimeWindows || rep.Variables[0].Type != gosnmp.Counter32 ||
				rep.Variables[0].Value != uint(reports) {
				t.Errorf("varbinds %+v, want usmStatsNotInTimeWindows = %d", rep.Variables, reports)
			}
		})
	}
}

// TestResponseFreshSalt: the Response to an inform is encrypted under a salt of its
// own (RFC 3826 3.1.2.1, RFC 3414 8.1.1.1), not the inform's: the AES IV is
// boots||time||salt, so a Response in the inform's second under the inform's salt
// would reuse its keystream. The same inform is answered twice in the same second;
// both salts differ from each other and from the inform's, a DES salt starts with this
// engine's boots, and each Response decrypts and authenticates at the sender (gosnmp,
// the user's keys localised to this engine's ID) and not under a wrong privacy key.
func TestResponseFreshSalt(t *testing.T) {
	dave := &gosnmp.UsmSecurityParameters{UserName: "dave", AuthenticationProtocol: gosnmp.SHA, AuthenticationPassphrase: "dave-auth-pass",
		PrivacyProtocol: gosnmp.DES, PrivacyPassphrase: "dave-priv-pass"}
	users := append(testUsers(), dave)
	d, err := NewDecoder(DecoderOptions{Users: users, Engine: testEngine})
	if err != nil {
		t.Fatal(err)
	}
	at := testEngine.Start.Add(1000 * time.Second)
	usm := func(u *gosnmp.UsmSecurityParameters) *gosnmp.UsmSecurityParameters {
		u = u.Copy().(*gosnmp.UsmSecurityParameters)
		u.AuthoritativeEngineID, u.AuthoritativeEngineBoots, u.AuthoritativeEngineTime = string(testEngine.ID), 3, 1000
		return u
	}
	for _, tt := range []struct {
		name  string
		user  *gosnmp.UsmSecurityParameters
		flags gosnmp.SnmpV3MsgFlags
	}{
		{name: "AES-128", user: users[0], flags: gosnmp.AuthPriv},
		{name: "AES-256", user: users[1], flags: gosnmp.AuthPriv},
		{name: "DES", user: dave, flags: gosnmp.AuthPriv},
		{name: "authNoPriv", user: users[2], flags: gosnmp.AuthNoPriv},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inform := v3Inform(t, usm(tt.user), tt.flags)
			_, pkt, err := d.DecodePacket(inform, netip.MustParseAddr("127.0.0.1"), at)
			if err != nil {
				t.Fatal(err)
			}
			informSalt := string(pkt.SecurityParameters.(*gosnmp.UsmSecurityParameters).PrivacyParameters)
			// sender decodes b as the inform's sender does, under privPass.
			sender := func(b []byte, privPass string) (*gosnmp.SnmpPacket, error) {
				u := usm(tt.user)
				u.PrivacyPassphrase = privPass
				g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, SecurityParameters: u}
				return g.UnmarshalTrap(append([]byte(nil), b...), true)
			}
			salts := map[string]string{informSalt: "the inform"}
			for i := range 2 {
				b, err := d.Response(pkt, at)
				if err != nil {
					t.Fatal(err)
				}
				if h, err := PeekHeader(b); err != nil || h.Encrypted != (tt.flags == gosnmp.AuthPriv) {
					t.Fatalf("response %d: header %+v %v, want encrypted %v", i, h, err, tt.flags == gosnmp.AuthPriv)
				}
				resp, err := sender(b, tt.user.PrivacyPassphrase)
				if err != nil {
					t.Fatalf("response %d: the sender cannot authenticate and decrypt it: %v", i, err)
				}
				if resp.PDUType != gosnmp.GetResponse || resp.MsgFlags != tt.flags || resp.RequestID != pkt.RequestID ||
					len(resp.Variables) != len(pkt.Variables) || resp.Variables[1].Value != pkt.Variables[1].Value {
					t.Errorf("response %d: %v flags %v request-id %d varbinds %+v", i, resp.PDUType, resp.MsgFlags, resp.RequestID, resp.Variables)
				}
				salt := string(resp.SecurityParameters.(*gosnmp.UsmSecurityParameters).PrivacyParameters)
				if tt.flags != gosnmp.AuthPriv {
					if salt != "" {
						t.Errorf("response %d: an unencrypted message carries a salt %x", i, salt)
					}
					continue
				}
				if _, err := sender(b, "a-wrong-privacy-passphrase"); err == nil {
					t.Errorf("response %d decrypts under a wrong privacy key too: not encrypted", i)
				}
				if len(salt) != 8 {
					t.Fatalf("response %d: salt %x, want 8 octets", i, salt)
				}
				if prev, dup := salts[salt]; dup {
					t.Errorf("response %d: salt %x is that of %s", i, salt, prev)
				}
				salts[salt] = fmt.Sprintf("response %d", i)
				if tt.user.PrivacyProtocol == gosnmp.DES && salt[:4] != "\x00\x00\x00\x03" {
					t.Errorf("response %d: DES salt %x does not start with this engine's boots 3", i, salt)
				}
			}
		})
	}
}
