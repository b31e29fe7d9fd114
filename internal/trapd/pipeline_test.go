package trapd

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/ratelog"
	"github.com/vcrcovery/vcrcovery/internal/trapd/health"
	"github.com/vcrcovery/vcrcovery/internal/trapd/trap"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

const (
	uuidWeb1 = "6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01"
	uuidWeb2 = "6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a02"
	uuidNew  = "00000000-0000-4000-8000-000000000042"
)

func testInventory() *config.Inventory {
	return &config.Inventory{
		Hypervisors: []config.Hypervisor{{Name: "kvm1", ZabbixHost: "kvm1-zbx", Address: config.HostPortFrom("127.0.0.1", 161)}},
		Standbys:    []config.Standby{{Name: "standby", ZabbixHost: "standby"}},
		Services: []config.Service{
			{Name: "web1", Hypervisor: "kvm1", VMUUID: mustUUID(uuidWeb1), Standby: config.ServiceStandby{Host: "standby"}},
			{Name: "web2", Hypervisor: "kvm1", VMUUID: mustUUID(uuidWeb2), Standby: config.ServiceStandby{Host: "standby"}},
		},
	}
}

func testPipeline(t *testing.T, dir, forward string) (*pipeline, *health.Counters) {
	t.Helper()
	inv := testInventory()
	rt, err := newRouter(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	g, err := loadGuests(filepath.Join(dir, "guests.json"), inv)
	if err != nil {
		t.Fatal(err)
	}
	c := &health.Counters{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &pipeline{router: rt, guests: g, counters: c, log: log, limiter: ratelog.New(log, time.Minute),
		forwardKey: forward, trapdHost: "standby", fastMaxAge: time.Minute, now: time.Now}, c
}

func guestTrap(src, uuid, name string, state libvirtmib.GuestState) trap.Trap {
	u, _ := libvirtmib.ParseUUID(uuid)
	return trap.Trap{Source: netip.MustParseAddr(src), Received: time.Unix(1795318949, 0), TrapOID: libvirtmib.GuestNotif,
		Vars: []trap.Var{
			{OID: libvirtmib.NotifName, Kind: trap.KindOctets, Bytes: []byte(name)},
			{OID: libvirtmib.NotifUUID, Kind: trap.KindOctets, Bytes: u[:]},
			{OID: libvirtmib.NotifState, Kind: trap.KindInteger, Int: int64(state)},
			{OID: libvirtmib.NotifRowStatus, Kind: trap.KindInteger, Int: int64(state.RowStatus())},
		}}
}

// short renders values as host:key=value (discovery decoded to its UUID list).
func short(t *testing.T, vs []zabbix.Value) []string {
	t.Helper()
	var out []string
	for _, v := range vs {
		val := v.Value
		if v.Key == zabbix.KeyGuestDiscovery {
			var rows []map[string]string
			if err := json.Unmarshal([]byte(v.Value), &rows); err != nil {
				t.Fatal(err)
			}
			val = ""
			for _, r := range rows {
				val += r["{#VM.UUID}"][34:] + "/" + r["{#VM.NAME}"] + "/" + r["{#SERVICE}"] + "/" + r["{#STANDBY}"] + " "
			}
		}
		out = append(out, v.Host+":"+v.Key+"="+val)
	}
	return out
}

func TestPipelineValues(t *testing.T) {
	dir := t.TempDir()
	p, c := testPipeline(t, dir, "")
	got := short(t, p.values(guestTrap("127.0.0.1", uuidWeb2, "web2-vm", 5)))
	want := []string{
		"kvm1-zbx:vcr.guest.discovery=01/web1/web1/standby 02/web2-vm/web2/standby ",
		"kvm1-zbx:vcr.guest.state[" + uuidWeb2 + "]=5",
		"kvm1-zbx:vcr.guest.state.text[" + uuidWeb2 + "]=shutoff",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("first trap (-want +got)\n%s", diff)
	}
	// Known now: no discovery. From an unknown address, routed by the UUID's service.
	got = short(t, p.values(guestTrap("192.0.2.1", uuidWeb2, "web2-vm", 1)))
	want = []string{"kvm1-zbx:vcr.guest.state[" + uuidWeb2 + "]=1", "kvm1-zbx:vcr.guest.state.text[" + uuidWeb2 + "]=running"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("second trap (-want +got)\n%s", diff)
	}
	// A new VM of no service: full discovery again, with it.
	got = short(t, p.values(guestTrap("127.0.0.1", uuidNew, "scratch", 7)))
	want = []string{
		"kvm1-zbx:vcr.guest.discovery=42/scratch// 01/web1/web1/standby 02/web2-vm/web2/standby ",
		"kvm1-zbx:vcr.guest.state[" + uuidNew + "]=7",
		"kvm1-zbx:vcr.guest.state.text[" + uuidNew + "]=pmsuspended",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("new VM (-want +got)\n%s", diff)
	}
	// Unknown address, unknown VM: refused.
	if vs := p.values(guestTrap("192.0.2.1", uuidNew, "scratch", 1)); len(vs) != 0 {
		t.Errorf("values from an unknown source: %v", vs)
	}
	// Malformed guest trap.
	bad := guestTrap("127.0.0.1", uuidWeb1, "web1", 1)
	bad.Vars = bad.Vars[:3]
	if vs := p.values(bad); len(vs) != 0 {
		t.Errorf("values of a malformed trap: %v", vs)
	}
	if diff := cmp.Diff(map[string]uint64{"decoded": 3, "rejected": 1, "rejected_source": 1, "malformed": 1},
		map[string]uint64{"decoded": c.Decoded.Load(), "rejected": c.Rejected.Load(), "rejected_source": c.RejectedSource.Load(), "malformed": c.Malformed.Load()}); diff != "" {
		t.Errorf("counters (-want +got)\n%s", diff)
	}

	// The set survives a restart: no discovery for web2 again.
	p2, _ := testPipeline(t, dir, "")
	if got := short(t, p2.values(guestTrap("127.0.0.1", uuidWeb2, "web2-vm", 1))); len(got) != 2 {
		t.Errorf("after restart: %v", got)
	}
}

func TestPipelineOther(t *testing.T) {
	cold := trap.Trap{Source: netip.MustParseAddr("127.0.0.1"), Received: time.Unix(1, 0), Version: "2c", TrapOID: ".1.3.6.1.6.3.1.1.5.1",
		Vars: []trap.Var{{OID: ".1.3.6.1.6.3.1.1.4.3.0", Kind: trap.KindOID, Text: ".1.3.6.1.4.1.8072.3.2.10"}}}
	p, c := testPipeline(t, t.TempDir(), "")
	if vs := p.values(cold); len(vs) != 0 {
		t.Errorf("values without a forward key: %v", vs)
	}
	if c.NotGuest.Load() != 1 || c.Rejected.Load() != 1 {
		t.Errorf("not guest %d rejected %d", c.NotGuest.Load(), c.Rejected.Load())
	}
	p, c = testPipeline(t, t.TempDir(), "vcr.trap.raw")
	got := short(t, p.values(cold))
	want := []string{"kvm1-zbx:vcr.trap.raw=SNMPv2c from 127.0.0.1: .1.3.6.1.6.3.1.1.5.1\t.1.3.6.1.6.3.1.1.4.3.0=OBJECT IDENTIFIER:.1.3.6.1.4.1.8072.3.2.10"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	cold.Source = netip.MustParseAddr("192.0.2.9")
	if got := short(t, p.values(cold)); len(got) != 1 || got[0][:len("standby:")] != "standby:" {
		t.Errorf("from an unknown source: %v, want it on the trapd host", got)
	}
	if c.Forwarded.Load() != 2 {
		t.Errorf("forwarded %d", c.Forwarded.Load())
	}
}

func mustUUID(s string) libvirtmib.UUID {
	u, err := libvirtmib.ParseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}
