package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// trapOptions configures the traps mode.
type trapOptions struct {
	CommunityFile string   // holds the SNMPv2c community
	Sinks         []string // HOST:PORT of every trap receiver
}

// event is one line of `virsh event --loop --event lifecycle --timestamp`, e.g.
// "2026-11-22 02:56:52.252+0000: event 'lifecycle' for domain 'web2': Stopped Destroyed".
type event struct {
	Domain string
	Type   string // Defined, Undefined, Started, Suspended, Resumed, Stopped, Shutdown, PMSuspended, Crashed
	Detail string // e.g. Destroyed, Booted
}

const eventMarker = ": event 'lifecycle' for domain '"

// parseEvent parses an event line; other lines (virsh's "event loop" messages) are not
// events.
func parseEvent(line string) (event, bool) {
	_, rest, ok := strings.Cut(line, eventMarker)
	if !ok {
		return event{}, false
	}
	i := strings.LastIndex(rest, "': ")
	if i < 0 {
		return event{}, false
	}
	e := event{Domain: rest[:i]}
	e.Type, e.Detail, _ = strings.Cut(strings.TrimSpace(rest[i+3:]), " ")
	return e, e.Domain != "" && e.Type != ""
}

// eventState returns the guest state libvirt-snmp reports for a lifecycle event, as
// measured with the real agent: start 1, destroy 5, shutdown 5, suspend 3, resume 1,
// define 5 (of a domain that is not running). The agent reads the domain's state in its
// event callback; query says the event does not tell the state (Defined: the domain may
// be running) and it must be read too. send is false for Undefined: no trap.
func eventState(typ string) (state libvirtmib.GuestState, query, send bool) {
	switch typ {
	case "Undefined":
		return 0, false, false
	case "Started", "Resumed":
		return libvirtmib.StateRunning, false, true
	case "Suspended":
		return libvirtmib.StatePaused, false, true
	case "Stopped":
		return libvirtmib.StateShutoff, false, true
	case "Shutdown":
		return libvirtmib.StateShutdown, false, true
	case "PMSuspended":
		return libvirtmib.StatePMSuspended, false, true
	case "Crashed":
		return libvirtmib.StateCrashed, false, true
	default: // Defined and anything newer
		return libvirtmib.StateShutoff, true, true
	}
}

// notification returns the varbinds of libvirtGuestNotif as libvirt-snmp sends them:
// sysUpTime.0, snmpTrapOID.0, then libvirtGuestName, libvirtGuestUUID (16 raw octets),
// libvirtGuestState and libvirtGuestRowStatus, each as instance .0.
func notification(uptime time.Duration, name string, u libvirtmib.UUID, s libvirtmib.GuestState) []gosnmp.SnmpPDU {
	return []gosnmp.SnmpPDU{
		{Name: libvirtmib.SysUpTime, Type: gosnmp.TimeTicks, Value: uint32(uptime / (10 * time.Millisecond))},
		{Name: libvirtmib.SnmpTrapOID, Type: gosnmp.ObjectIdentifier, Value: libvirtmib.GuestNotif},
		{Name: libvirtmib.NotifName, Type: gosnmp.OctetString, Value: []byte(name)},
		{Name: libvirtmib.NotifUUID, Type: gosnmp.OctetString, Value: u[:]},
		{Name: libvirtmib.NotifState, Type: gosnmp.Integer, Value: int(s)},
		{Name: libvirtmib.NotifRowStatus, Type: gosnmp.Integer, Value: int(s.RowStatus())},
	}
}

// trapSender sends SNMPv2c traps to every sink. Its sockets are unconnected: a sink that
// is not listening (ICMP port unreachable) must not make the next trap to it fail.
type trapSender struct {
	sinks []*gosnmp.GoSNMP
}

func newTrapSender(ctx context.Context, community string, sinks []string) (*trapSender, error) {
	ts := &trapSender{}
	for _, s := range sinks {
		host, port, err := net.SplitHostPort(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("sink %q: %w", s, err)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("sink %q: port: %w", s, err)
		}
		g := &gosnmp.GoSNMP{
			Target: host, Port: uint16(p), Transport: "udp", Community: community,
			Version: gosnmp.Version2c, Timeout: 2 * time.Second, Context: ctx,
			UseUnconnectedUDPSocket: true, LocalAddr: localAddrFor(host),
		}
		if err := g.Connect(); err != nil {
			return nil, fmt.Errorf("sink %s: %w", s, err)
		}
		ts.sinks = append(ts.sinks, g)
	}
	return ts, nil
}

// localAddrFor binds the socket to loopback for a loopback sink, so it listens nowhere else.
func localAddrFor(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return net.JoinHostPort(host, "0")
	}
	return ""
}

// Send sends one trap to every sink and returns the first error.
func (ts *trapSender) Send(vars []gosnmp.SnmpPDU) error {
	var first error
	for _, g := range ts.sinks {
		if _, err := g.SendTrap(gosnmp.SnmpTrap{Variables: vars}); err != nil && first == nil {
			first = fmt.Errorf("send trap to %s:%d: %w", g.Target, g.Port, err)
		}
	}
	return first
}

// Close closes every socket.
func (ts *trapSender) Close() {
	for _, g := range ts.sinks {
		if g.Conn != nil {
			g.Conn.Close()
		}
	}
}

func runTraps(ctx context.Context, log *slog.Logger, v virsh, o trapOptions) error {
	b, err := os.ReadFile(o.CommunityFile)
	if err != nil {
		return fmt.Errorf("read community: %w", err)
	}
	community := strings.TrimSpace(string(b))
	if community == "" {
		return fmt.Errorf("community file %s is empty", o.CommunityFile)
	}
	ts, err := newTrapSender(ctx, community, o.Sinks)
	if err != nil {
		return err
	}
	defer ts.Close()
	e := &emitter{virsh: v, send: ts.Send, log: log, start: time.Now(), uuids: map[string]libvirtmib.UUID{}}
	log.Info("sending libvirtGuestNotif traps", "uri", v.URI, "sinks", strings.Join(o.Sinks, ","))
	return e.run(ctx)
}

// emitter turns libvirt's lifecycle events into traps.
type emitter struct {
	virsh virsh
	send  func([]gosnmp.SnmpPDU) error
	log   *slog.Logger
	start time.Time                  // sysUpTime counts from here
	uuids map[string]libvirtmib.UUID // domain name -> UUID: events name the domain only
}

// run follows `virsh event --loop` and restarts it, with a pause, whenever it ends
// (libvirtd restarted or not up yet), until ctx ends. Events meanwhile get no trap, as
// with libvirt-snmp, whose connection to libvirtd breaks the same way.
// The first retry is quick: events of domains that start right after libvirtd (as in
// `scripts/lab up libvirt`) would be lost meanwhile.
func (e *emitter) run(ctx context.Context) error {
	const first = 250 * time.Millisecond
	backoff := first
	for {
		started := time.Now()
		err := e.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > 10*time.Second {
			backoff = first
		}
		e.log.Warn("libvirt event stream ended, restarting", "err", err, "retry_seconds", backoff.Seconds())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (e *emitter) follow(ctx context.Context) error {
	// Listing the domains first also checks that libvirtd answers.
	out, err := e.virsh.run(ctx, "list", "--all", "--uuid", "--name")
	if err != nil {
		return err
	}
	ds, err := parseList(out)
	if err != nil {
		return err
	}
	clear(e.uuids)
	for _, d := range ds {
		e.uuids[d.Name] = d.UUID
	}
	cmd := exec.CommandContext(ctx, "virsh", "-q", "-c", e.virsh.URI, "event", "--loop", "--event", "lifecycle", "--timestamp")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start virsh event: %w", err)
	}
	e.log.Info("following libvirt lifecycle events", "domains", len(e.uuids))
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		ev, ok := parseEvent(sc.Text())
		if !ok {
			continue
		}
		e.handle(ctx, ev)
	}
	return fmt.Errorf("virsh event: %w", cmd.Wait())
}

// handle sends the trap of one event.
func (e *emitter) handle(ctx context.Context, ev event) {
	state, query, send := eventState(ev.Type)
	if ev.Type == "Undefined" || ev.Type == "Defined" {
		delete(e.uuids, ev.Domain)
	}
	if !send {
		e.log.Info("event without trap", "domain", ev.Domain, "event", ev.Type, "detail", ev.Detail)
		return
	}
	u, ok := e.uuids[ev.Domain]
	if !ok {
		var err error
		if u, err = e.virsh.DomainUUID(ctx, ev.Domain); err != nil {
			e.log.Error("event for a domain without uuid, no trap", "domain", ev.Domain, "event", ev.Type, "err", err)
			return
		}
		e.uuids[ev.Domain] = u
	}
	if query {
		if s, err := e.virsh.DomainState(ctx, ev.Domain); err == nil {
			state = s
		} else {
			e.log.Warn("read domain state", "domain", ev.Domain, "err", err)
		}
	}
	err := e.send(notification(time.Since(e.start), ev.Domain, u, state))
	if err != nil {
		e.log.Error("send trap", "domain", ev.Domain, "event", ev.Type, "err", err)
		return
	}
	e.log.Info("trap sent", "domain", ev.Domain, "uuid", u.String(), "event", ev.Type, "detail", ev.Detail,
		"state", state.String(), "row_status", state.RowStatus().String())
}
