package main

// Benchmarks that print figures (they assert nothing about time). Opt in with
// VCR_BENCH=1 (scripts/bench-trapd runs them); they need the lab.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/lab/labzabbix"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/trapd"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

func benchOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("VCR_BENCH") != "1" {
		t.Skip("benchmark: run with VCR_BENCH=1 (scripts/bench-trapd)")
	}
}

// benchUUIDs returns n synthetic guest UUIDs.
func benchUUIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("be0c0000-0000-4000-8000-%012x", i)
	}
	return out
}

// guestPacket marshals a v2c libvirtGuestNotif once, to send it many times.
func guestPacket(t testing.TB, community, name, uuid string, state libvirtmib.GuestState) []byte {
	t.Helper()
	u, err := libvirtmib.ParseUUID(uuid)
	if err != nil {
		t.Fatal(err)
	}
	pkt := gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: community, PDUType: gosnmp.SNMPv2Trap, RequestID: 1,
		Variables: guestVars(name, u, state)}
	b, err := pkt.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[int(float64(len(d)-1)*p)]
}

// TestBenchLatency: trap-to-Zabbix latency at 1,000 traps/s for 10 s, guest traps over
// 100 VMs: from the moment the sender wrote the trap to the moment the trapper's
// "success" reply for the request holding its state value passed the proxy in front of
// the lab's Zabbix (the value is then in Zabbix's history cache; history.get shows it
// after the next history sync, about a second later).
func TestBenchLatency(t *testing.T) {
	benchOnly(t)
	api := labzabbix.API(t)
	uuids := benchUUIDs(100)
	host := testHost(t, api, hostItems(uuids...))
	px := lab.StartProxy(t, lab.Need(t, "ZABBIX_TRAPPER"))
	listenAddr := freeUDP(t)
	inv := writeInventory(t, host, listenAddr, px.Addr, "", nil)
	r := startTrapd(t, inv, trapd.ModeListen, func(o *trapd.Options) { o.StatsInterval = 0; o.ForwardKey = "" })
	conn, err := net.Dial("udp", listenAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Warm up: discovery of the 100 guests, the Sender learning the items.
	for _, u := range uuids {
		conn.Write(guestPacket(t, "trapd-test", "bench", u, libvirtmib.StateRunning))
	}
	r.waitCounter(t, "sent", uint64(3*len(uuids)), 30*time.Second)
	time.Sleep(time.Second)
	warm := map[string]int{}
	for _, u := range uuids {
		warm[u] = len(px.Forwarded(host, zabbix.KeyGuestState(u)))
	}

	const rate, seconds = 1000, 10
	n := rate * seconds
	pkts := [2][]([]byte){}
	for s, st := range []libvirtmib.GuestState{libvirtmib.StateRunning, libvirtmib.StateShutoff} {
		for _, u := range uuids {
			pkts[s] = append(pkts[s], guestPacket(t, "trapd-test", "bench", u, st))
		}
	}
	sent := make(map[string][]time.Time, len(uuids))
	start := time.Now()
	for i := 0; i < n; i++ {
		u := i % len(uuids)
		at := time.Now()
		conn.Write(pkts[(i/len(uuids))%2][u])
		sent[uuids[u]] = append(sent[uuids[u]], at)
		if d := time.Duration(i+1)*time.Second/rate - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
	elapsed := time.Since(start)
	r.waitCounter(t, "sent", uint64(3*len(uuids)+2*n), 60*time.Second)
	time.Sleep(500 * time.Millisecond)
	var lat []time.Duration
	for _, u := range uuids {
		got := px.Forwarded(host, zabbix.KeyGuestState(u))[warm[u]:]
		for k, at := range sent[u] {
			if k < len(got) {
				lat = append(lat, got[k].At.Sub(at))
			}
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("latency trap -> trapper success reply, %d traps at %.0f traps/s (%d matched): p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms",
		n, float64(n)/elapsed.Seconds(), len(lat), ms(percentile(lat, 0.5)), ms(percentile(lat, 0.9)), ms(percentile(lat, 0.99)), ms(percentile(lat, 1)))
	frames := px.Frames()
	t.Logf("trapper requests: %d for %d values (%.1f values per request)", frames, 2*n+3*len(uuids), float64(2*n+3*len(uuids))/float64(frames))
	if len(lat) != n {
		t.Errorf("%d of %d values matched", len(lat), n)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// TestBenchBurst: bursts of guest traps from a Go sender (pre-marshalled packets,
// one write(2) each), received by trapd (listen mode, sending on to the lab's Zabbix),
// by a private snmptrapd logging to a file (default format, -On), and by gosnmp's
// stock TrapListener (its defaults: 4 KiB read buffer, the kernel's default receive
// buffer, the handler inside the read loop). It prints how many each received.
//
// "same run": each trap is written to the three receivers in turn, so they see the
// same offered load at the same time (on 2 cores the sender and the three receivers
// compete, and the sender cannot reach 50,000 traps/s to each). "alone": one receiver
// at a time, at the full rate.
func TestBenchBurst(t *testing.T) {
	benchOnly(t)
	api := labzabbix.API(t)
	uuids := benchUUIDs(100)
	host := testHost(t, api, hostItems(uuids...))
	all := []string{"trapd", "snmptrapd", "gosnmp"}
	runs := []struct {
		name      string
		n, rate   int // rate in traps/s; 0: as fast as the sender can
		receivers []string
	}{
		{"same run: 20000 as fast as possible", 20000, 0, all},
		{"same run: 50000 at 50000 per s", 50000, 50000, all},
	}
	for _, r := range all {
		runs = append(runs, struct {
			name      string
			n, rate   int
			receivers []string
		}{"alone: 50000 at 50000 per s to " + r, 50000, 50000, []string{r}})
	}
	for _, b := range runs {
		t.Run(b.name, func(t *testing.T) { burst(t, api, host, uuids, b.n, b.rate, b.receivers) })
	}
}

func burst(t *testing.T, api *zabbix.API, host string, uuids []string, n, rate int, receivers []string) {
	var conns []net.Conn
	counters := map[string]func() int64{}
	var r *running
	for _, name := range receivers {
		addr := freeUDP(t)
		switch name {
		case "trapd":
			inv := writeInventory(t, host, addr, lab.Need(t, "ZABBIX_TRAPPER"), "", nil)
			r = startTrapd(t, inv, trapd.ModeListen, func(o *trapd.Options) { o.StatsInterval = 0; o.ForwardKey = "" })
			counters[name] = func() int64 { return int64(r.counter("received")) }
		case "snmptrapd":
			logFile := t.TempDir() + "/snmptrapd.log"
			snmptrapd(t, addr, logFile)
			counters[name] = func() int64 {
				b, _ := os.ReadFile(logFile)
				return int64(bytes.Count(b, []byte("]:\n")))
			}

		case "gosnmp":
			var stock atomic.Int64
			tl := gosnmp.NewTrapListener()
			tl.Params = &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "trapd-test", Logger: gosnmp.NewLogger(nil)}
			tl.OnNewTrap = func(*gosnmp.SnmpPacket, *net.UDPAddr) { stock.Add(1) }
			go tl.Listen(addr)
			<-tl.Listening()
			defer tl.Close()
			counters[name] = stock.Load
		}
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	var pkts [][]byte
	for _, u := range uuids {
		pkts = append(pkts, guestPacket(t, "trapd-test", "bench", u, libvirtmib.StateShutoff), guestPacket(t, "trapd-test", "bench", u, libvirtmib.StateRunning))
	}
	time.Sleep(500 * time.Millisecond) // let every receiver settle
	errs := 0
	start := time.Now()
	for i := 0; i < n; i++ {
		p := pkts[i%len(pkts)]
		for _, c := range conns {
			if _, err := c.Write(p); err != nil {
				errs++
			}
		}
		if rate > 0 && i%50 == 49 {
			if d := time.Duration(i+1)*time.Second/time.Duration(rate) - time.Since(start); d > 0 {
				time.Sleep(d)
			}
		}
	}
	elapsed := time.Since(start)
	// Wait until every receiver is quiet for two seconds.
	count := func() map[string]int64 {
		out := map[string]int64{}
		for k, f := range counters {
			out[k] = f()
		}
		return out
	}
	last, quiet := count(), time.Now()
	for time.Since(quiet) < 2*time.Second {
		time.Sleep(200 * time.Millisecond)
		if c := count(); fmt.Sprint(c) != fmt.Sprint(last) {
			last, quiet = c, time.Now()
		}
	}
	t.Logf("%d traps sent to each of %d receivers in %.3f s: %.0f traps/s per receiver (%d send errors)",
		n, len(receivers), elapsed.Seconds(), float64(n)/elapsed.Seconds(), errs)
	var parts []string
	for _, name := range receivers {
		got := last[name]
		parts = append(parts, fmt.Sprintf("%s %d (loss %.1f%%)", name, got, 100*float64(int64(n)-got)/float64(n)))
	}
	t.Logf("received: %s", strings.Join(parts, "; "))
	if r == nil {
		return
	}
	// And on to Zabbix: every state value of the burst.
	deadline := time.Now().Add(120 * time.Second)
	for r.counter("sent") < 2*r.counter("decoded") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("trapd: SO_RCVBUF %d bytes, queue full %d, decoded %d; %d values accepted by the Zabbix trapper %.1f s after the burst began (dropped %d, spooled %d)",
		listenRcvBuf(r), r.counter("queue_full"), r.counter("decoded"), r.counter("sent"), time.Since(start).Seconds(), r.counter("dropped"), r.counter("spooled"))
}

// listenRcvBuf is the receive buffer the kernel granted trapd's socket.
func listenRcvBuf(r *running) int {
	for _, l := range strings.Split(r.log.String(), "\n") {
		if i := strings.Index(l, "rcvbuf_bytes="); i >= 0 {
			var n int
			fmt.Sscanf(l[i+len("rcvbuf_bytes="):], "%d", &n)
			return n
		}
	}
	return 0
}
