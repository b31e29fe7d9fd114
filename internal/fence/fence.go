// Package fence decides whether a service's primary VM is really down before its standby
// takes over: switching a name away from a primary that still serves splits the service
// in two.
//
// Evidence comes from four sources, asked in parallel with short deadlines: the libvirt
// state on the hypervisor's SNMP agent (libvirtGuestState), the last state trapd sent to
// Zabbix (fresher than the agent, whose table is cached for up to 5 s), the availability
// and maintenance status of the VM's Zabbix host, and a connect to the service's port on
// the primary address. A primary whose port answers is never called down.
//
// Evidence is weighed by time (issue 12, item 5): of the two libvirt states (the agent's,
// dated AgentCache before the check since its table may be that old, and trapd's in
// Zabbix, dated by its clock) the newer one decides, so a "running" seen after a
// "shut off" beats it; and every state older than the primary's last failback (a run
// that saw it serve: LastServed) is out of date and ignored, as is the host's
// unavailability for UnreachableStale after it. A primary booting after a failback is
// thus never fenced on what was true before.
//
// Each source is a small interface (Hypervisor, Zabbix, Port) so that the verdict table
// is tested with fakes; the Checker's zero fields use the real sources.
package fence

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/probe"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Verdict is what the evidence says.
type Verdict struct {
	// Down: a source says the VM is shut off, shut down or crashed, or Zabbix finds its
	// host unreachable; and its service port does not answer.
	Down bool
	// Serving: the service port on the primary address answers.
	Serving bool
	// Maintenance: the VM's Zabbix host is in a maintenance period.
	Maintenance bool
	// Evidence lists what each source said, for logs and the event acknowledgement.
	Evidence []string
}

// Hypervisor reads the libvirt state of svc's VM from its hypervisor.
type Hypervisor interface {
	GuestState(ctx context.Context, svc *config.Service) (libvirtmib.GuestState, error)
}

// Zabbix reads what Zabbix knows of svc's VM.
type Zabbix interface {
	// LastState is the last vcr.guest.state trapd sent and its clock; false when there
	// is none.
	LastState(ctx context.Context, svc *config.Service) (libvirtmib.GuestState, time.Time, bool, error)
	// Host is the availability and maintenance of the VM's Zabbix host.
	Host(ctx context.Context, svc *config.Service) (zabbix.HostStatus, error)
}

// Port connects to svc's first port on its primary address: nil when it answers.
type Port interface {
	Answers(ctx context.Context, svc *config.Service) (netip.AddrPort, error)
}

// Checker gathers the evidence.
type Checker struct {
	Inventory *config.Inventory
	// API returns the Zabbix API, or nil while it is not available (a login still under
	// way): that check then goes without the Zabbix evidence. A nil func: never.
	API func() *zabbix.API
	// Timeout bounds each source (default 500ms): fencing is on the recovery's clock.
	Timeout time.Duration
	// PortTimeout bounds the connect to the primary's port (0: the inventory's
	// fence.port_timeout, default 50ms). A destroyed
	// VM's address never refuses, it only stays silent, so this wait is spent in full on
	// every recovery. A live host on the same network answers a SYN in well under a
	// millisecond, and the port is only the second guard: a VM whose libvirt state is
	// running is never called down, whatever its port says.
	PortTimeout time.Duration

	// Hypervisor, Zabbix and Port replace the real sources (SNMP to the hypervisor's
	// agent; the API from API; a TCP connect with PortTimeout). Tests set them.
	Hypervisor Hypervisor
	Zabbix     Zabbix
	Port       Port

	// LastServed returns when svc's primary was last seen serving by a run that acted on
	// it (the end of its last failback), or the zero time (nil: never known).
	LastServed func(svc *config.Service) time.Time
	// Now dates the agent's answer (nil: time.Now).
	Now func() time.Time
}

// AgentCache is how old the libvirt-snmp agent's table can be (it caches it for up to
// 5 s, LAB-NOTES.md): its state is dated that long before the check.
const AgentCache = 5 * time.Second

// UnreachableStale is how long after a failback the Zabbix host's "unavailable" is not
// taken as evidence: Zabbix marks an agent available again only at its next successful
// check (interval plus the unavailable delay, a minute or two by default), so the flag
// may still be the one of the failure that failback ended.
const UnreachableStale = 2 * time.Minute

// reading is a libvirt state with the time it describes.
type reading struct {
	st libvirtmib.GuestState
	at time.Time
	ok bool
}

// Check asks every source about svc's primary.
func (c *Checker) Check(ctx context.Context, svc *config.Service) Verdict {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 500 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	hyp, port, zbx := c.sources()
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	var (
		mu          sync.Mutex
		v           Verdict
		agent, trap reading // the libvirt states of the agent and of trapd (Zabbix)
		unreachable bool
		wg          sync.WaitGroup
		// One slot per source, joined in this order: the evidence reads the same
		// whichever source answers first.
		evidence [4]string
	)
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }

	run(func() {
		st, err := hyp.GuestState(ctx, svc)
		if err != nil {
			evidence[0] = fmt.Sprintf("libvirt state over snmp: %v", err)
			return
		}
		evidence[0] = fmt.Sprintf("libvirt state over snmp: %s", st)
		agent = reading{st: st, at: now.Add(-AgentCache), ok: true}
	})
	run(func() {
		ap, err := port.Answers(ctx, svc)
		if err != nil {
			if !ap.IsValid() {
				evidence[1] = fmt.Sprintf("primary port: %v", err)
			} else {
				evidence[1] = fmt.Sprintf("primary port %s silent (%v)", ap, shortErr(err))
			}
			return
		}
		evidence[1] = fmt.Sprintf("primary port %s answers", ap)
		mu.Lock()
		v.Serving = true
		mu.Unlock()
	})
	if zbx != nil {
		run(func() {
			st, at, ok, err := zbx.LastState(ctx, svc)
			switch {
			case err != nil:
				evidence[2] = fmt.Sprintf("last state in zabbix: %v", err)
			case !ok:
				evidence[2] = "last state in zabbix: none"
			default:
				evidence[2] = fmt.Sprintf("last state in zabbix: %s", st)
				trap = reading{st: st, at: at, ok: true}
			}
		})
		run(func() {
			hs, err := zbx.Host(ctx, svc)
			if err != nil {
				evidence[3] = fmt.Sprintf("zabbix host %s: %v", svc.ZabbixHost, err)
				return
			}
			evidence[3] = fmt.Sprintf("zabbix host %s: %s%s", svc.ZabbixHost, hs.Availability, map[bool]string{true: ", in maintenance"}[hs.Maintenance])
			mu.Lock()
			unreachable = hs.Availability == zabbix.Unreachable
			v.Maintenance = hs.Maintenance
			mu.Unlock()
		})
	}
	wg.Wait()
	var served time.Time
	if c.LastServed != nil {
		served = c.LastServed(svc)
	}
	// States from before the last failback describe the failure it ended.
	for _, r := range []struct {
		reading *reading
		slot    int
	}{{&agent, 0}, {&trap, 2}} {
		if r.reading.ok && r.reading.at.Before(served) {
			r.reading.ok = false
			evidence[r.slot] += fmt.Sprintf(" (older than the failback at %s: ignored)", served.UTC().Format(time.RFC3339))
		}
	}
	if unreachable && now.Sub(served) < UnreachableStale {
		unreachable = false
		evidence[3] += fmt.Sprintf(" (since before the failback at %s: ignored)", served.UTC().Format(time.RFC3339))
	}
	for _, e := range evidence {
		if e != "" {
			v.Evidence = append(v.Evidence, e)
		}
	}
	v.Down = (newer(agent, trap).Down() || unreachable) && !v.Serving
	return v
}

// newer returns the state of the newer reading; of two as old, the one that is not
// down (refusing is the safe side); StateRunning when there is none, so it is never
// taken as down.
func newer(a, b reading) libvirtmib.GuestState {
	switch {
	case !a.ok && !b.ok:
		return libvirtmib.StateRunning
	case !b.ok:
		return a.st
	case !a.ok:
		return b.st
	case a.at.After(b.at):
		return a.st
	case b.at.After(a.at):
		return b.st
	case a.st.Down():
		return b.st
	}
	return a.st
}

// sources returns the sources to ask: the fakes a test set, else the real ones. zbx is
// nil while the API is not available.
func (c *Checker) sources() (hyp Hypervisor, port Port, zbx Zabbix) {
	hyp, port, zbx = c.Hypervisor, c.Port, c.Zabbix
	if hyp == nil {
		hyp = snmpSource{inv: c.Inventory}
	}
	if port == nil {
		pt := c.PortTimeout
		if pt <= 0 && c.Inventory != nil {
			pt = c.Inventory.Fence.PortTimeout
		}
		port = tcpPort{timeout: pt}
	}
	if zbx == nil && c.API != nil {
		if api := c.API(); api != nil {
			zbx = apiSource{inv: c.Inventory, api: api}
		}
	}
	return hyp, port, zbx
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// snmpSource asks the hypervisor's SNMP agent (libvirtGuestState).
type snmpSource struct{ inv *config.Inventory }

func (s snmpSource) GuestState(ctx context.Context, svc *config.Service) (libvirtmib.GuestState, error) {
	h, ok := s.inv.Hypervisor(svc.Hypervisor)
	if !ok {
		return 0, fmt.Errorf("no hypervisor %q", svc.Hypervisor)
	}
	hc := *h
	if d, ok := ctx.Deadline(); ok {
		// One try within the fencing budget, no retries beyond it.
		hc.Timeout, hc.Retries = time.Until(d), 0
	}
	a, err := hypervisor.Dial(ctx, &hc)
	if err != nil {
		return 0, err
	}
	defer a.Close()
	return a.GuestState(svc.VMUUID)
}

// tcpPort connects to the primary's first port.
type tcpPort struct{ timeout time.Duration }

func (p tcpPort) Answers(ctx context.Context, svc *config.Service) (netip.AddrPort, error) {
	addr := svc.PrimaryAddress
	if len(svc.Probe.Ports) == 0 {
		return netip.AddrPort{}, errors.New("no probe port")
	}
	pt := p.timeout
	if pt <= 0 {
		pt = 50 * time.Millisecond
	}
	ap := netip.AddrPortFrom(addr, uint16(svc.Probe.Ports[0]))
	tp := &probe.TCP{Ports: svc.Probe.Ports[:1], Attempt: pt}
	return ap, tp.Once(ctx, addr)
}

// apiSource reads the Zabbix API.
type apiSource struct {
	inv *config.Inventory
	api *zabbix.API
}

// LastState reads the last value of vcr.guest.state[UUID] on the hypervisor's host.
func (s apiSource) LastState(ctx context.Context, svc *config.Service) (libvirtmib.GuestState, time.Time, bool, error) {
	h, ok := s.inv.Hypervisor(svc.Hypervisor)
	if !ok {
		return 0, time.Time{}, false, fmt.Errorf("no hypervisor %q", svc.Hypervisor)
	}
	val, at, ok, err := s.api.LastValue(ctx, h.ZabbixHost, zabbix.KeyGuestState(svc.VMUUID.String()))
	if err != nil || !ok {
		return 0, time.Time{}, false, err
	}
	n, err := strconv.Atoi(val)
	if err != nil {
		return 0, time.Time{}, false, fmt.Errorf("last value %q is not a state", val)
	}
	return libvirtmib.GuestState(n), at, true, nil
}

// Host reads the availability of the VM host's interfaces and its maintenance.
func (s apiSource) Host(ctx context.Context, svc *config.Service) (zabbix.HostStatus, error) {
	return s.api.HostStatus(ctx, svc.ZabbixHost)
}
