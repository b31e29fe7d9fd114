package listen

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/trapd/health"
	"github.com/vcrcovery/vcrcovery/internal/trapd/trap"
)

var (
	alice = &gosnmp.UsmSecurityParameters{UserName: "alice", AuthenticationProtocol: gosnmp.SHA, AuthenticationPassphrase: "alice-auth-1",
		PrivacyProtocol: gosnmp.AES, PrivacyPassphrase: "alice-priv-1"}
	bob = &gosnmp.UsmSecurityParameters{UserName: "bob", AuthenticationProtocol: gosnmp.SHA512, AuthenticationPassphrase: "bob-auth-12",
		PrivacyProtocol: gosnmp.AES256C, PrivacyPassphrase: "bob-priv-12"}
)

// harness runs a Listener on 127.0.0.1:0 and records what it hands on.
type harness struct {
	l        *Listener
	counters *health.Counters
	mu       sync.Mutex
	got      []trap.Trap
	cancel   context.CancelFunc
	served   chan error
}

// start runs a listener with o; without o.Decoder, one for community public and the
// users alice and bob, without an engine of its own.
func start(t *testing.T, o Options) *harness {
	t.Helper()
	if o.Decoder == nil {
		d, err := trap.NewDecoder(trap.DecoderOptions{Communities: [][]byte{[]byte("public")}, Users: []*gosnmp.UsmSecurityParameters{alice, bob}})
		if err != nil {
			t.Fatal(err)
		}
		o.Decoder = d
	}
	h := &harness{counters: &health.Counters{}, served: make(chan error, 1)}
	o.Addrs = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}
	o.Counters = h.counters
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.Handle == nil {
		o.Handle = func(tr trap.Trap, done func()) {
			h.mu.Lock()
			h.got = append(h.got, tr)
			h.mu.Unlock()
			done()
		}
	}
	var err error
	h.l, err = Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.served <- h.l.Serve(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.served
	h.served <- nil // stop is idempotent
}

func (h *harness) port() uint16 { return uint16(h.l.Addrs()[0].(*net.UDPAddr).Port) }

func (h *harness) traps() []trap.Trap {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]trap.Trap(nil), h.got...)
}

// waitFor polls until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sender returns a gosnmp client sending to the harness.
func sender(t *testing.T, h *harness, version gosnmp.SnmpVersion, community string, usm *gosnmp.UsmSecurityParameters, engine string) *gosnmp.GoSNMP {
	t.Helper()
	g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: h.port(), Version: version, Community: community, Timeout: 2 * time.Second, Retries: 0}
	if usm != nil {
		u := usm.Copy().(*gosnmp.UsmSecurityParameters)
		u.AuthoritativeEngineID, u.AuthoritativeEngineBoots, u.AuthoritativeEngineTime = engine, 1, 100
		g.SecurityModel, g.MsgFlags, g.SecurityParameters = gosnmp.UserSecurityModel, gosnmp.AuthPriv, u
	}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Conn.Close() })
	return g
}

// guestVars are a libvirtGuestNotif's varbinds with seq as the guest name.
func guestVars(seq int, state libvirtmib.GuestState) []gosnmp.SnmpPDU {
	return []gosnmp.SnmpPDU{
		{Name: libvirtmib.SysUpTime, Type: gosnmp.TimeTicks, Value: uint32(seq)},
		{Name: libvirtmib.SnmpTrapOID, Type: gosnmp.ObjectIdentifier, Value: libvirtmib.GuestNotif},
		{Name: libvirtmib.NotifName, Type: gosnmp.OctetString, Value: []byte(strconv.Itoa(seq))},
		{Name: libvirtmib.NotifUUID, Type: gosnmp.OctetString, Value: make([]byte, 16)},
		{Name: libvirtmib.NotifState, Type: gosnmp.Integer, Value: int(state)},
		{Name: libvirtmib.NotifRowStatus, Type: gosnmp.Integer, Value: int(state.RowStatus())},
	}
}

func names(ts []trap.Trap) []string {
	var out []string
	for _, tr := range ts {
		if v, ok := tr.Var(libvirtmib.NotifName); ok {
			out = append(out, string(v.Bytes))
		}
	}
	return out
}

func send(t *testing.T, g *gosnmp.GoSNMP, vars []gosnmp.SnmpPDU) {
	t.Helper()
	if _, err := g.SendTrap(gosnmp.SnmpTrap{Variables: vars}); err != nil {
		t.Fatal(err)
	}
}

// TestAcceptAndRefuse: valid v2c and v3 traps (two users) are handed on in order among
// wrong communities, unknown users, wrong passphrases, garbage, truncated and oversize
// datagrams, each counted.
func TestAcceptAndRefuse(t *testing.T) {
	h := start(t, Options{MaxPacket: 4096})
	good := sender(t, h, gosnmp.Version2c, "public", nil, "")
	wrong := sender(t, h, gosnmp.Version2c, "private", nil, "")
	v1wrong := sender(t, h, gosnmp.Version1, "private", nil, "")
	a := sender(t, h, gosnmp.Version3, "", alice, "engine-alice")
	b := sender(t, h, gosnmp.Version3, "", bob, "engine-bob")
	mallory := alice.Copy().(*gosnmp.UsmSecurityParameters)
	mallory.UserName = "mallory"
	m := sender(t, h, gosnmp.Version3, "", mallory, "engine-m")
	badPass := alice.Copy().(*gosnmp.UsmSecurityParameters)
	badPass.AuthenticationPassphrase = "guessing-it"
	bp := sender(t, h, gosnmp.Version3, "", badPass, "engine-bp")
	raw, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(h.port())})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	junk := make([]byte, 300)
	rand.Read(junk)
	valid := func(seq int) []byte {
		pkt := gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.SNMPv2Trap, Variables: guestVars(seq, 5)}
		b, err := pkt.MarshalMsg()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	send(t, good, guestVars(1, 5))
	send(t, wrong, guestVars(100, 5))
	if _, err := v1wrong.SendTrap(gosnmp.SnmpTrap{Enterprise: ".1.3.6.1.4.1.36957", AgentAddress: "127.0.0.1", GenericTrap: 6, SpecificTrap: 1, Variables: guestVars(101, 5)[2:]}); err != nil {
		t.Fatal(err)
	}
	send(t, a, guestVars(2, 1))
	send(t, m, guestVars(102, 5))
	send(t, b, guestVars(3, 5))
	send(t, bp, guestVars(103, 5))
	raw.Write(junk)
	raw.Write(valid(104)[:40])             // truncated
	raw.Write(append(valid(105), junk...)) // trailing garbage
	raw.Write(make([]byte, 5000))          // oversize
	raw.Write([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01})
	send(t, good, guestVars(4, 6))

	waitFor(t, "13 datagrams", func() bool { return h.counters.Received.Load() == 13 })
	waitFor(t, "4 traps handed on", func() bool { return len(h.traps()) >= 4 })
	time.Sleep(100 * time.Millisecond) // nothing more may come
	if diff := cmp.Diff([]string{"1", "2", "3", "4"}, names(h.traps())); diff != "" {
		t.Errorf("traps handed on (-want +got)\n%s", diff)
	}
	c := h.counters
	got := map[string]uint64{}
	for _, x := range c.All() {
		got[x.Name] = x.Value
	}
	// Malformed: random bytes, truncated, trailing garbage after a valid message,
	// oversize, and a length field of 4 GiB.
	want := map[string]uint64{"received": 13, "rejected": 4, "rejected_community": 2, "rejected_user": 1, "rejected_auth": 1,
		"malformed": 5, "oversize": 1, "panics": 0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("counter %s = %d, want %d", k, got[k], v)
		}
	}
}

// TestInform: an InformRequest is answered once the handler says it is durable.
func TestInform(t *testing.T) {
	release := make(chan struct{})
	var h *harness
	h = start(t, Options{Handle: func(tr trap.Trap, done func()) {
		go func() {
			<-release
			done()
		}()
	}})
	g := sender(t, h, gosnmp.Version2c, "public", nil, "")
	g.Timeout = 5 * time.Second
	answered := make(chan error, 1)
	go func() {
		_, err := g.SendTrap(gosnmp.SnmpTrap{IsInform: true, Variables: guestVars(7, 5)})
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("inform answered before it was durable: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-answered; err != nil {
		t.Fatalf("inform: %v", err)
	}
	if h.counters.Informs.Load() != 1 {
		t.Errorf("informs counted: %d", h.counters.Informs.Load())
	}
}

// TestInformV3TimeWindow: an SNMPv3 inform under trapd's engine ID but a stale boots
// and time (its sender synchronised before trapd restarted) gets a Report, from which
// gosnmp, as net-snmp, takes trapd's boots and time and sends the inform again: it is
// then handed on and answered. With a wrong passphrase it gets no Report.
func TestInformV3TimeWindow(t *testing.T) {
	engine := &trap.Engine{ID: trap.EngineID("vcr-trapd@listen-test"), Boots: 5, Start: time.Now().Add(-time.Hour)}
	d, err := trap.NewDecoder(trap.DecoderOptions{Users: []*gosnmp.UsmSecurityParameters{alice, bob}, Engine: engine})
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, Options{Decoder: d})
	inform := func(usm *gosnmp.UsmSecurityParameters) error {
		g := sender(t, h, gosnmp.Version3, "", usm, string(engine.ID)) // boots 1, time 100
		_, err := g.SendTrap(gosnmp.SnmpTrap{IsInform: true, Variables: guestVars(8, 5)})
		return err
	}
	badPass := alice.Copy().(*gosnmp.UsmSecurityParameters)
	badPass.AuthenticationPassphrase = "guessing-it"
	if err := inform(badPass); err == nil {
		t.Fatal("an out-of-window inform with a wrong passphrase was answered")
	}
	if err := inform(bob); err != nil {
		t.Fatalf("out-of-window inform: %v", err)
	}
	if diff := cmp.Diff([]string{"8"}, names(h.traps())); diff != "" {
		t.Errorf("traps handed on (-want +got)\n%s", diff)
	}
	c := h.counters
	if c.NotInTimeWindow.Load() != 1 || c.Informs.Load() != 1 || c.RejectedAuth.Load() != 1 || c.Rejected.Load() != 1 || c.Received.Load() != 3 {
		t.Errorf("not_in_time_window %d, informs %d, rejected_auth %d, rejected %d, received %d; want 1, 1, 1, 1, 3 (the first inform, the second sent twice)",
			c.NotInTimeWindow.Load(), c.Informs.Load(), c.RejectedAuth.Load(), c.Rejected.Load(), c.Received.Load())
	}
}

// TestBurstInOrder: a burst is handed on completely and in arrival order although
// several decoders run at once.
func TestBurstInOrder(t *testing.T) {
	h := start(t, Options{Workers: 4})
	raw, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(h.port())})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	const n = 5000
	var want []string
	for i := 0; i < n; i++ {
		pkt := gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.SNMPv2Trap, Variables: guestVars(i, 1)}
		b, err := pkt.MarshalMsg()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Write(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, strconv.Itoa(i))
	}
	waitFor(t, "the burst", func() bool { return len(h.traps()) == n })
	if diff := cmp.Diff(want, names(h.traps())); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if h.counters.QueueFull.Load() != 0 || h.counters.Received.Load() != n {
		t.Errorf("received %d, queue full %d", h.counters.Received.Load(), h.counters.QueueFull.Load())
	}
}

// TestQueueFull: with a blocked handler the queue fills and further datagrams are
// dropped and counted, not blocking the reader; after Serve ends, everything queued was
// handed on.
func TestQueueFull(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	handled := 0
	h := start(t, Options{Queue: 10, Workers: 1, Handle: func(tr trap.Trap, done func()) {
		<-release
		mu.Lock()
		handled++
		mu.Unlock()
		done()
	}})
	raw, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(h.port())})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	pkt := gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.SNMPv2Trap, Variables: guestVars(1, 1)}
	b, _ := pkt.MarshalMsg()
	for i := 0; i < 50; i++ {
		raw.Write(b)
	}
	waitFor(t, "50 datagrams", func() bool { return h.counters.Received.Load() == 50 })
	if d := h.counters.QueueFull.Load(); d < 30 || h.counters.Dropped.Load() != d {
		t.Errorf("queue full %d, dropped %d; want about 39", d, h.counters.Dropped.Load())
	}
	close(release)
	h.stop()
	mu.Lock()
	defer mu.Unlock()
	if uint64(handled)+h.counters.QueueFull.Load() != 50 {
		t.Errorf("handled %d + dropped %d != 50", handled, h.counters.QueueFull.Load())
	}
}

func TestRcvBuf(t *testing.T) {
	h := start(t, Options{RcvBuf: 8 << 20})
	got := h.l.RcvBuf()[0]
	// As root (SO_RCVBUFFORCE) the request is granted; otherwise net.core.rmem_max caps it.
	t.Logf("SO_RCVBUF granted: %d bytes (asked 8 MiB)", got)
	if got <= 0 {
		t.Errorf("RcvBuf = %d", got)
	}
}

// TestIPv6: a listener on [::1] receives from an IPv6 source, reported unmapped.
func TestIPv6(t *testing.T) {
	d, err := trap.NewDecoder(trap.DecoderOptions{Communities: [][]byte{[]byte("public")}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan trap.Trap, 1)
	l, err := Listen(Options{Addrs: []netip.AddrPort{netip.MustParseAddrPort("[::1]:0")}, Decoder: d, Counters: &health.Counters{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Handle: func(tr trap.Trap, done func()) { got <- tr; done() }})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Serve(ctx)
	g := &gosnmp.GoSNMP{Target: "::1", Port: uint16(l.Addrs()[0].(*net.UDPAddr).Port), Version: gosnmp.Version2c, Community: "public", Timeout: time.Second}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Conn.Close()
	send(t, g, guestVars(1, 5))
	select {
	case tr := <-got:
		if tr.Source.String() != "::1" {
			t.Errorf("source %s, want ::1", tr.Source)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no trap over IPv6")
	}
}
