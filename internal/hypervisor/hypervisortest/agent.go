// Package hypervisortest runs an in-process SNMPv2c agent that serves libvirtGuestTable
// (LIBVIRT-MIB) over real UDP, for tests and benchmarks of code that walks it. Unlike the
// lab's snmpd it can misbehave on purpose: stay silent, answer garbage, answer values of
// the wrong type, leave a column out, or go backwards, as a broken or hostile agent would.
package hypervisortest

import (
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
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
)

// Guest is one row the agent serves.
type Guest struct {
	UUID      libvirtmib.UUID
	Name      string
	State     libvirtmib.GuestState
	VCPUs     uint32
	MemoryMiB uint32
	MaxMiB    uint32
	CPUTime   uint64
}

// Agent is a running fake agent. Its methods are safe for concurrent use.
type Agent struct {
	// Community is the v2c community it answers (others are ignored, like snmpd).
	Community string

	conn     *net.UDPConn
	mu       sync.Mutex
	table    []cell
	fault    Fault
	delay    time.Duration
	source   func() []Guest
	ttl      time.Duration
	now      func() time.Duration
	loaded   time.Duration
	isLoaded bool
	requests atomic.Int64
	done     chan struct{}
}

type cell struct {
	oid  []uint32
	name string
	pdu  gosnmp.SnmpPDU
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
	a.mu.Lock()
	defer a.mu.Unlock()
	a.source, a.ttl, a.now, a.isLoaded = source, ttl, now, false
}

// SetGuests replaces the table.
func (a *Agent) SetGuests(guests []Guest) {
	t := buildTable(guests)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.table = t
}

// current returns the table to serve, refreshing it from the source when due.
func (a *Agent) current() []cell {
	if a.source == nil {
		return a.table
	}
	if a.ttl <= 0 || a.now == nil {
		a.table = buildTable(a.source())
		return a.table
	}
	if now := a.now(); !a.isLoaded || now-a.loaded >= a.ttl {
		a.table, a.loaded, a.isLoaded = buildTable(a.source()), now, true
	}
	return a.table
}

func buildTable(guests []Guest) []cell {
	rows := slices.Clone(guests)
	slices.SortFunc(rows, func(x, y Guest) int { return slices.Compare(x.UUID[:], y.UUID[:]) })
	base := mustOID(libvirtmib.GuestEntry)
	var t []cell
	for _, col := range libvirtmib.Columns {
		for _, g := range rows {
			oid := append(slices.Clone(base), uint32(col))
			for _, b := range g.UUID {
				oid = append(oid, uint32(b))
			}
			t = append(t, cell{oid: oid, name: formatOID(oid), pdu: value(col, g)})
		}
	}
	return t
}

// value returns a cell's type and value as libvirt-snmp sends them.
func value(col libvirtmib.Column, g Guest) gosnmp.SnmpPDU {
	switch col {
	case libvirtmib.ColumnName:
		return gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: []byte(g.Name)}
	case libvirtmib.ColumnState:
		return gosnmp.SnmpPDU{Type: gosnmp.Integer, Value: int(g.State)}
	case libvirtmib.ColumnCPUCount:
		return gosnmp.SnmpPDU{Type: gosnmp.Gauge32, Value: uint(g.VCPUs)}
	case libvirtmib.ColumnMemoryCurrent:
		return gosnmp.SnmpPDU{Type: gosnmp.Gauge32, Value: uint(g.MemoryMiB)}
	case libvirtmib.ColumnMemoryLimit:
		return gosnmp.SnmpPDU{Type: gosnmp.Gauge32, Value: uint(g.MaxMiB)}
	case libvirtmib.ColumnCPUTime:
		return gosnmp.SnmpPDU{Type: gosnmp.Counter64, Value: g.CPUTime}
	default: // RowStatus
		return gosnmp.SnmpPDU{Type: gosnmp.Integer, Value: int(libvirtmib.RowActive)}
	}
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

func answer(req *gosnmp.SnmpPacket, table []cell, fault Fault) ([]byte, error) {
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
		table = slices.DeleteFunc(slices.Clone(table), func(c cell) bool {
			return c.oid[len(c.oid)-17] == uint32(libvirtmib.ColumnCPUTime)
		})
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

func get(table []cell, name string, fault Fault) gosnmp.SnmpPDU {
	oid, err := libvirtmib.ParseOID(name)
	if err == nil {
		i, ok := slices.BinarySearchFunc(table, oid, func(c cell, o []uint32) int { return slices.Compare(c.oid, o) })
		if ok {
			return withFault(table[i], fault)
		}
	}
	return gosnmp.SnmpPDU{Name: name, Type: gosnmp.NoSuchInstance}
}

func next(table []cell, name string, fault Fault) gosnmp.SnmpPDU {
	if fault == NonIncreasing && len(table) > 0 {
		return withFault(table[0], fault)
	}
	oid, err := libvirtmib.ParseOID(name)
	if err != nil {
		return gosnmp.SnmpPDU{Name: name, Type: gosnmp.EndOfMibView}
	}
	i, ok := slices.BinarySearchFunc(table, oid, func(c cell, o []uint32) int { return slices.Compare(c.oid, o) })
	if ok {
		i++
	}
	cpuTime := append(mustOID(libvirtmib.GuestEntry), uint32(libvirtmib.ColumnCPUTime))
	if fault == Endless && len(oid) == len(cpuTime)+16 && slices.Equal(oid[:len(cpuTime)], cpuTime) &&
		(i >= len(table) || !slices.Equal(table[i].oid[:len(cpuTime)], cpuTime)) {
		// Past the last CpuTime row: invent the row after the one asked for.
		o := slices.Clone(oid)
		for j := len(o) - 1; j >= len(cpuTime); j-- {
			if o[j]++; o[j] <= 255 {
				break
			}
			o[j] = 0
		}
		return gosnmp.SnmpPDU{Name: formatOID(o), Type: gosnmp.Counter64, Value: uint64(1)}
	}
	if i < len(table) {
		return withFault(table[i], fault)
	}
	return gosnmp.SnmpPDU{Name: name, Type: gosnmp.EndOfMibView}
}

func withFault(c cell, fault Fault) gosnmp.SnmpPDU {
	p := c.pdu
	p.Name = c.name
	if fault == WrongType && c.oid[len(c.oid)-17] == uint32(libvirtmib.ColumnCPUTime) {
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

func formatOID(oid []uint32) string {
	var sb strings.Builder
	for _, n := range oid {
		sb.WriteByte('.')
		sb.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return sb.String()
}

// Synthetic returns n generated guests like the lab agent's (scripts/labagent): guest i
// has 1-4 vCPUs and keeps (i%100+1) % of one vCPU busy, so after t of running its
// CpuTime is i s + t*(i%100+1)/100.
func Synthetic(n int, t time.Duration) []Guest {
	gs := make([]Guest, n)
	for i := range gs {
		var u libvirtmib.UUID
		copy(u[:], []byte{0xc0, 0xff, 0xee, 0x00, 0x5e, 0x17, 0x40, 0x00, 0x80, 0x00})
		for j := 0; j < 6; j++ {
			u[15-j] = byte(uint64(i) >> (8 * j))
		}
		load := uint64(i%100 + 1)
		mem := uint32(256 * (1 + i%4))
		gs[i] = Guest{UUID: u, Name: fmt.Sprintf("synth%05d", i), State: libvirtmib.StateRunning,
			VCPUs: uint32(1 + i%4), MemoryMiB: mem * 3 / 4, MaxMiB: mem,
			CPUTime: uint64(i)*1e9 + uint64(t)*load/100}
	}
	return gs
}
