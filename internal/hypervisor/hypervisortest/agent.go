// Package hypervisortest runs an in-process SNMPv2c agent that serves libvirtGuestTable
// (LIBVIRT-MIB) over real UDP, for tests and benchmarks of code that walks it. Unlike the
// lab's snmpd it can misbehave on purpose: stay silent, answer garbage, answer values of
// the wrong type, leave a column out, or go backwards, as a broken or hostile agent would.
package hypervisortest

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib/guesttable"
)

// Fault is a way for the agent to misbehave.
type Fault int

// Faults. Each applies to every request while it is set.
const (
	// None: answer like libvirt-snmp (the default).
	None Fault = iota
	// Silent: read requests and never answer (a dead agent or a wrong community).
	Silent
	// Garbage: answer bytes that are not SNMP.
	Garbage
	// WrongType: serve libvirtGuestCpuTime as an OCTET STRING.
	WrongType
	// MissingColumn: serve no libvirtGuestCpuTime column at all.
	MissingColumn
	// NonIncreasing: answer every GETBULK/GETNEXT with the first cell of the table,
	// so a walker that does not check the order loops for ever.
	NonIncreasing
	// ErrorStatus: answer genErr.
	ErrorStatus
	// Endless: after the real rows, invent new increasing rows without end.
	Endless
	// NoTable: answer noSuchObject for every object of the table, as libvirt-snmp does
	// once it lost libvirtd.
	NoTable
)

// Guest is one row the agent serves.
type Guest = guesttable.Guest

// Agent is a running fake agent. Its methods are safe for concurrent use.
type Agent struct {
	// Community is the v2c community it answers (others are ignored, like snmpd).
	Community string

	conn     *net.UDPConn
	mu       sync.Mutex
	table    *guesttable.Table
	cache    *guesttable.Cache // set by SetSource
	fault    Fault
	delay    time.Duration
	requests atomic.Int64
	done     chan struct{}
}

// Start starts an agent on 127.0.0.1 (a free port) serving guests; Close stops it.
func Start(community string, guests []Guest) (*Agent, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("fake agent: listen: %w", err)
	}
	// A 10,000-guest walk sends hundreds of requests back to back.
	_ = conn.SetReadBuffer(4 << 20)
	a := &Agent{Community: community, conn: conn, done: make(chan struct{})}
	a.SetGuests(guests)
	go a.serve()
	return a, nil
}

// Hypervisor returns an inventory entry (v2c) for the agent named name, its community
// written to a file in dir; timeout 1s, no retries.
func (a *Agent) Hypervisor(dir, name string) (config.Hypervisor, error) {
	cf := filepath.Join(dir, name+".community")
	if err := os.WriteFile(cf, []byte(a.Community+"\n"), 0o600); err != nil {
		return config.Hypervisor{}, fmt.Errorf("fake agent: %w", err)
	}
	ap := a.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return config.Hypervisor{Name: name, ZabbixHost: name, Address: config.HostPortFrom(ap.Addr().Unmap().String(), ap.Port()), Version: config.SNMPv2c,
		CommunityFile: cf, Timeout: time.Second}, nil
}

// Addr is the agent's host:port.
func (a *Agent) Addr() string { return a.conn.LocalAddr().String() }

// Close stops the agent.
func (a *Agent) Close() error {
	err := a.conn.Close()
	<-a.done
	return err
}

// Requests is the number of requests received so far.
func (a *Agent) Requests() int64 { return a.requests.Load() }

// SetFault makes the agent misbehave (None: behave).
func (a *Agent) SetFault(f Fault) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fault = f
}

// SetDelay makes the agent wait d before each answer.
func (a *Agent) SetDelay(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.delay = d
}

// SetSource makes the agent read its table from source like libvirt-snmp reads
// libvirt: on the first request after the table is ttl old (by now), and otherwise
// serve the cached one. ttl 0 reads source on every request.
func (a *Agent) SetSource(source func() []Guest, ttl time.Duration, now func() time.Duration) {
	c := &guesttable.Cache{Load: func(context.Context) ([]Guest, error) { return source(), nil }, TTL: ttl}
	if now == nil {
		c.TTL = 0
	} else {
		c.Now = func() time.Time { return time.Time{}.Add(now()) }
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cache = c
}

// SetGuests replaces the table.
func (a *Agent) SetGuests(guests []Guest) {
	t := guesttable.New(guests)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.table = t
}

// current returns the table to serve, refreshing it from the source when due.
func (a *Agent) current() *guesttable.Table {
	if a.cache == nil {
		return a.table
	}
	t, _ := a.cache.Table(context.Background()) // the source cannot fail
	return t
}

// pdu is a cell as gosnmp sends it.
func pdu(c guesttable.Cell) gosnmp.SnmpPDU {
	return gosnmp.SnmpPDU{Name: c.Name, Type: asn1[c.Syntax], Value: c.Value}
}

var asn1 = map[guesttable.Syntax]gosnmp.Asn1BER{
	guesttable.OctetString: gosnmp.OctetString,
	guesttable.Integer:     gosnmp.Integer,
	guesttable.Gauge32:     gosnmp.Gauge32,
	guesttable.Counter64:   gosnmp.Counter64,
}

func (a *Agent) serve() {
	defer close(a.done)
	buf := make([]byte, 65535)
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: a.Community}
	for {
		n, from, err := a.conn.ReadFromUDP(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Printf("fake agent: read: %v", err)
			}
			return
		}
		a.requests.Add(1)
		req, err := dec.SnmpDecodePacket(buf[:n])
		if err != nil || req.Community != a.Community {
			continue // snmpd drops what it cannot decode or authenticate
		}
		a.mu.Lock()
		fault, delay, table := a.fault, a.delay, a.current()
		a.mu.Unlock()
		if fault == Silent {
			continue
		}
		if delay > 0 {
			time.Sleep(delay)
		}
		out, err := answer(req, table, fault)
		if err != nil {
			log.Printf("fake agent: %v", err)
			continue
		}
		if _, err := a.conn.WriteToUDP(out, from); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Printf("fake agent: write: %v", err)
		}
	}
}

// maxVarbinds bounds an answer so it fits in one UDP datagram, as an agent truncates a
// GETBULK answer to its maximum message size (RFC 3416 section 4.2.3).
const maxVarbinds = 1000

func answer(req *gosnmp.SnmpPacket, table *guesttable.Table, fault Fault) ([]byte, error) {
	if fault == Garbage {
		return []byte("\x30\x82\xff\xffthis is not an SNMP message"), nil
	}
	resp := &gosnmp.SnmpPacket{Version: req.Version, Community: req.Community,
		PDUType: gosnmp.GetResponse, RequestID: req.RequestID}
	if fault == ErrorStatus {
		resp.Error, resp.ErrorIndex = gosnmp.GenErr, 1
		resp.Variables = req.Variables
		return resp.MarshalMsg()
	}
	if fault == MissingColumn {
		table = table.Without(libvirtmib.ColumnCPUTime)
	}
	if fault == NoTable {
		for _, v := range req.Variables {
			resp.Variables = append(resp.Variables, gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.NoSuchObject})
		}
		return resp.MarshalMsg()
	}
	switch req.PDUType {
	case gosnmp.GetRequest:
		for _, v := range req.Variables {
			resp.Variables = append(resp.Variables, get(table, v.Name, fault))
		}
	case gosnmp.GetNextRequest:
		for _, v := range req.Variables {
			resp.Variables = append(resp.Variables, next(table, v.Name, fault))
		}
	case gosnmp.GetBulkRequest:
		reps := int(req.MaxRepetitions)
		vars := req.Variables
		cur := make([]string, len(vars))
		for i, v := range vars {
			cur[i] = v.Name
		}
		for r := 0; r < reps && len(resp.Variables)+len(vars) <= maxVarbinds; r++ {
			for i := range vars {
				p := next(table, cur[i], fault)
				resp.Variables = append(resp.Variables, p)
				cur[i] = p.Name
			}
		}
	default:
		return nil, fmt.Errorf("unexpected PDU %v", req.PDUType)
	}
	return resp.MarshalMsg()
}

func get(table *guesttable.Table, name string, fault Fault) gosnmp.SnmpPDU {
	if oid, err := libvirtmib.ParseOID(name); err == nil {
		if c, ok := table.Get(oid); ok {
			return withFault(c, fault)
		}
	}
	return gosnmp.SnmpPDU{Name: name, Type: gosnmp.NoSuchInstance}
}

// cpuTimeColumn is the OID of libvirtGuestCpuTime, the column Endless extends.
var cpuTimeColumn = mustOID(libvirtmib.ColumnCPUTime.OID())

func next(table *guesttable.Table, name string, fault Fault) gosnmp.SnmpPDU {
	if fault == NonIncreasing && table.Len() > 0 {
		return withFault(table.Cells()[0], fault)
	}
	oid, err := libvirtmib.ParseOID(name)
	if err != nil {
		return gosnmp.SnmpPDU{Name: name, Type: gosnmp.EndOfMibView}
	}
	c, ok := table.Next(oid)
	cpuTime := cpuTimeColumn
	if fault == Endless && len(oid) == len(cpuTime)+16 && slices.Equal(oid[:len(cpuTime)], cpuTime) &&
		(!ok || c.Column != libvirtmib.ColumnCPUTime) {
		// Past the last CpuTime row: invent the row after the one asked for.
		o := slices.Clone(oid)
		for j := len(o) - 1; j >= len(cpuTime); j-- {
			if o[j]++; o[j] <= 255 {
				break
			}
			o[j] = 0
		}
		return gosnmp.SnmpPDU{Name: guesttable.FormatOID(o), Type: gosnmp.Counter64, Value: uint64(1)}
	}
	if ok {
		return withFault(c, fault)
	}
	return gosnmp.SnmpPDU{Name: name, Type: gosnmp.EndOfMibView}
}

func withFault(c guesttable.Cell, fault Fault) gosnmp.SnmpPDU {
	p := pdu(c)
	if fault == WrongType && c.Column == libvirtmib.ColumnCPUTime {
		p.Type, p.Value = gosnmp.OctetString, []byte(strconv.FormatUint(p.Value.(uint64), 10))
	}
	return p
}

func mustOID(s string) []uint32 {
	o, err := libvirtmib.ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

// Synthetic returns n generated guests like the lab agent's (guesttable.Synthetic):
// guest i has 1-4 vCPUs and keeps (i%100+1) % of one vCPU busy, so after t of running
// its CpuTime is i s + t*(i%100+1)/100.
func Synthetic(n int, t time.Duration) []Guest { return guesttable.SyntheticGuests(n, t) }
