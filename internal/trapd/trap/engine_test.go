package trap

import (
	"errors"
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
