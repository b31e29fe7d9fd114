// Package listen is trapd's own UDP trap receiver. It is built so that a burst of
// traps is not lost at the socket, where gosnmp's TrapListener (which decodes and runs
// the handler inside its only read loop) and snmptrapd lose 15-70% under a 50,000
// traps/s flood (shared/LAB-NOTES.md):
//
//   - a large SO_RCVBUF (SO_RCVBUFFORCE when the process may), so the kernel holds a
//     burst while the reader is descheduled;
//   - per socket a read loop that only copies each datagram into a bounded queue;
//   - a pool of decoders (trap.Decoder: community allow-list and SNMPv3 users checked
//     before gosnmp decodes; gosnmp panics recovered and counted);
//   - one committer that hands the decoded notifications on in arrival order, so two
//     traps of one VM a millisecond apart never swap.
//
// When the queue is full the datagram is dropped and counted: the reader must never
// block. Everything read before Serve returns is decoded and handed on.
package listen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/ratelog"
	"github.com/vcrcovery/vcrcovery/internal/trapd/health"
	"github.com/vcrcovery/vcrcovery/internal/trapd/trap"
)

// Options configure a Listener.
type Options struct {
	// Addrs are the UDP addresses to listen on (IPv4 or IPv6; 0.0.0.0: every address).
	Addrs []netip.AddrPort
	// RcvBuf is the socket receive buffer wanted, in bytes. Default 64 MiB: at about
	// 1 KiB of kernel memory per queued small datagram, room for a 50,000-trap burst.
	RcvBuf int
	// Queue is how many datagrams may wait between the readers and the committer.
	// Default 65536.
	Queue int
	// Workers is the number of decoders. Default GOMAXPROCS.
	Workers int
	// MaxPacket: larger datagrams are counted as malformed (oversize) without being
	// decoded. Default 8192; a libvirtGuestNotif is under 200 bytes.
	MaxPacket int
	// Decoder checks and decodes datagrams.
	Decoder *trap.Decoder
	// Counters are incremented for received, malformed, rejected and dropped datagrams.
	Counters *health.Counters
	Log      *slog.Logger
	// Limiter rate-limits the log lines about refused and malformed datagrams.
	Limiter *ratelog.Limiter
	// Handle receives every decoded notification, in arrival order, from one
	// goroutine; it may block (the queue then fills). It must call done once the
	// values derived from the notification are durable (sent to Zabbix or spooled):
	// an InformRequest is answered then, and not before.
	Handle func(t trap.Trap, done func())
}

// Listener receives traps on UDP sockets.
type Listener struct {
	o      Options
	conns  []*net.UDPConn
	rcvbuf []int
	order  chan *task
	work   chan *task
	pool   sync.Pool
}

// task is one datagram on its way through the decoders.
type task struct {
	buf   []byte
	src   netip.AddrPort
	conn  *net.UDPConn
	at    time.Time
	ready chan struct{} // a decoder signals here; reused across datagrams
	trap  trap.Trap
	pkt   *gosnmp.SnmpPacket
	err   error
}

// Listen opens the sockets and sets their receive buffers.
func Listen(o Options) (*Listener, error) {
	if o.RcvBuf <= 0 {
		o.RcvBuf = 64 << 20
	}
	if o.Queue <= 0 {
		o.Queue = 65536
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.MaxPacket <= 0 {
		o.MaxPacket = 8192
	}
	if o.Decoder == nil || o.Handle == nil || o.Counters == nil || o.Log == nil {
		return nil, errors.New("listen: Decoder, Handle, Counters and Log are required")
	}
	if o.Limiter == nil {
		o.Limiter = ratelog.New(o.Log, time.Minute)
	}
	if len(o.Addrs) == 0 {
		return nil, errors.New("listen: no address to listen on (snmp.trap_listen)")
	}
	l := &Listener{o: o, order: make(chan *task, o.Queue), work: make(chan *task, o.Queue)}
	l.pool.New = func() any { return &task{ready: make(chan struct{}, 1)} }
	for _, a := range o.Addrs {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(a))
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("listen on %s: %w", a, err)
		}
		l.conns = append(l.conns, c)
		got, err := setRcvBuf(c, o.RcvBuf)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("listen on %s: %w", a, err)
		}
		l.rcvbuf = append(l.rcvbuf, got)
		level := slog.LevelInfo
		if got < o.RcvBuf {
			// The kernel caps SO_RCVBUF at net.core.rmem_max without CAP_NET_ADMIN.
			level = slog.LevelWarn
		}
		o.Log.Log(context.Background(), level, "listening for traps", "addr", c.LocalAddr().String(),
			"rcvbuf_bytes", got, "rcvbuf_wanted_bytes", o.RcvBuf)
	}
	return l, nil
}

// setRcvBuf asks for n bytes of receive buffer, with SO_RCVBUFFORCE (which ignores
// net.core.rmem_max, for a process with CAP_NET_ADMIN) and else SO_RCVBUF, and returns
// the size the kernel grants. Linux doubles the request to account for its own
// bookkeeping and reports the doubled value; the returned size is halved back, so it
// compares with n.
func setRcvBuf(c *net.UDPConn, n int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var serr error
	err = rc.Control(func(fd uintptr) {
		if e := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n); e != nil {
			if e := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n); e != nil {
				serr = fmt.Errorf("set SO_RCVBUF to %d: %w", n, e)
				return
			}
		}
		v, e := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		if e != nil {
			serr = fmt.Errorf("read SO_RCVBUF: %w", e)
			return
		}
		got = v / 2
	})
	if err == nil {
		err = serr
	}
	return got, err
}

// Addrs returns the addresses the sockets are bound to.
func (l *Listener) Addrs() []net.Addr {
	out := make([]net.Addr, len(l.conns))
	for i, c := range l.conns {
		out[i] = c.LocalAddr()
	}
	return out
}

// RcvBuf returns the receive buffer size the kernel granted each socket.
func (l *Listener) RcvBuf() []int { return append([]int(nil), l.rcvbuf...) }

// Close closes the sockets; Serve then drains what was read and returns.
func (l *Listener) Close() error {
	var first error
	for _, c := range l.conns {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) && first == nil {
			first = err
		}
	}
	return first
}

// Serve reads until ctx ends (or Close), then decodes and hands on every datagram
// already read, and returns nil. Serve may be called once.
func (l *Listener) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()

	var readers, workers sync.WaitGroup
	for _, c := range l.conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			l.read(c)
		}()
	}
	for range l.o.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			l.decode()
		}()
	}
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		l.commit()
	}()
	readers.Wait()
	close(l.work)
	close(l.order)
	workers.Wait()
	<-committed
	return nil
}

// read copies datagrams into the queue, and does nothing else, so the socket buffer
// drains as fast as the kernel fills it.
func (l *Listener) read(c *net.UDPConn) {
	c8 := l.o.Counters
	buf := make([]byte, 65536) // the largest UDP payload fits
	for {
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP errors and the like: the socket is still usable. A pause keeps a
			// socket that fails for good from spinning.
			l.o.Limiter.Log(slog.LevelWarn, "read_error", "read from trap socket", "addr", c.LocalAddr().String(), "err", err)
			time.Sleep(time.Millisecond)
			continue
		}
		at := time.Now()
		c8.Received.Add(1)
		if n > l.o.MaxPacket {
			c8.Malformed.Add(1)
			c8.Oversize.Add(1)
			l.o.Limiter.Log(slog.LevelWarn, "oversize", "datagram larger than the limit, not decoded",
				"source", src.Addr().String(), "bytes", n, "limit_bytes", l.o.MaxPacket)
			continue
		}
		t := l.pool.Get().(*task)
		if cap(t.buf) < n {
			t.buf = make([]byte, n, max(n, 512))
		}
		t.buf = t.buf[:n]
		copy(t.buf, buf[:n])
		t.src, t.conn, t.at = src, c, at
		select {
		case l.order <- t:
			l.work <- t // never blocks: work holds at most what order holds
		default:
			l.pool.Put(t)
			c8.Dropped.Add(1)
			c8.QueueFull.Add(1)
			l.o.Limiter.Log(slog.LevelError, "queue_full", "trap queue full, datagram dropped", "queue", l.o.Queue)
		}
	}
}

// decode decodes queued datagrams in parallel; commit puts them back in order.
func (l *Listener) decode() {
	for t := range l.work {
		t.trap, t.pkt, t.err = l.o.Decoder.DecodePacket(t.buf, t.src.Addr().Unmap(), t.at)
		t.ready <- struct{}{}
	}
}

func (l *Listener) commit() {
	c8 := l.o.Counters
	for t := range l.order {
		<-t.ready
		if errors.Is(t.err, trap.ErrDiscovery) || errors.Is(t.err, trap.ErrNotInTimeWindow) {
			l.report(t)
		} else if t.err != nil {
			l.refuse(t)
		} else {
			done := func() {}
			if t.trap.Inform {
				c8.Informs.Add(1)
				done = l.responder(t)
			}
			l.o.Handle(t.trap, done)
		}
		t.trap, t.pkt, t.err, t.conn = trap.Trap{}, nil, nil, nil
		l.pool.Put(t)
	}
}

// refuse counts and logs a datagram that did not decode.
func (l *Listener) refuse(t *task) {
	c8 := l.o.Counters
	src := t.src.Addr().Unmap().String()
	switch {
	case errors.Is(t.err, trap.ErrCommunity):
		c8.Rejected.Add(1)
		c8.RejectedCommunity.Add(1)
		l.o.Limiter.Log(slog.LevelWarn, "community", "trap refused: community not allowed", "source", src, "err", t.err)
	case errors.Is(t.err, trap.ErrUser):
		c8.Rejected.Add(1)
		c8.RejectedUser.Add(1)
		l.o.Limiter.Log(slog.LevelWarn, "user", "trap refused: unknown SNMPv3 user", "source", src, "err", t.err)
	case errors.Is(t.err, trap.ErrAuth):
		c8.Rejected.Add(1)
		c8.RejectedAuth.Add(1)
		l.o.Limiter.Log(slog.LevelWarn, "auth", "trap refused: SNMPv3 authentication", "source", src, "err", t.err)
	case errors.Is(t.err, trap.ErrPanic):
		c8.Malformed.Add(1)
		c8.Panics.Add(1)
		l.o.Limiter.Log(slog.LevelError, "panic", "decoder panicked on a datagram (recovered)", "source", src, "err", t.err)
	default:
		c8.Malformed.Add(1)
		l.o.Limiter.Log(slog.LevelWarn, "malformed", "malformed datagram", "source", src, "bytes", len(t.buf), "err", t.err)
	}
}

// report answers an SNMPv3 engine ID discovery probe, or an inform outside this
// engine's time window, with this engine's Report, which carries its boots and time.
func (l *Listener) report(t *task) {
	kind, what := "discovery", "SNMPv3 engine discovery"
	var b []byte
	var err error
	if errors.Is(t.err, trap.ErrNotInTimeWindow) {
		kind, what = "time_window_report", "SNMPv3 inform outside the time window"
		l.o.Counters.NotInTimeWindow.Add(1)
		// A sender that synchronised before trapd restarted: expected once per such
		// sender, so Info; many of them from one sender mean its clock keeps failing.
		l.o.Limiter.Log(slog.LevelInfo, "time_window", "SNMPv3 inform outside trapd's time window: answered with a Report for the sender to resynchronise",
			"user", trap.PacketUser(t.pkt), "source", t.src.Addr().Unmap().String(), "err", t.err)
		b, err = l.o.Decoder.TimeWindowReport(t.pkt, time.Now())
	} else {
		b, err = l.o.Decoder.DiscoveryReport(t.buf, time.Now())
	}
	if err == nil {
		_, err = t.conn.WriteToUDPAddrPort(b, t.src)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		l.o.Limiter.Log(slog.LevelWarn, kind, what+" not answered", "source", t.src.Addr().Unmap().String(), "err", err)
	}
}

// responder returns the done function of an InformRequest: it sends the Response
// (RFC 3416 section 4.2.7: same request-id and varbinds, no error; an SNMPv3 one under
// trapd's own engine, authenticated as the inform was) once the notification is
// durable.
func (l *Listener) responder(t *task) func() {
	pkt, conn, src := t.pkt, t.conn, t.src
	var once sync.Once
	return func() {
		once.Do(func() {
			b, err := l.o.Decoder.Response(pkt, time.Now())
			if err == nil {
				_, err = conn.WriteToUDPAddrPort(b, src)
			}
			if err != nil && !errors.Is(err, net.ErrClosed) {
				l.o.Limiter.Log(slog.LevelWarn, "inform_response", "send Response to an InformRequest", "source", src.Addr().String(), "err", err)
			}
		})
	}
}
