package trapd

import (
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/ratelog"
	"github.com/vcrcovery/vcrcovery/internal/trapd/health"
	"github.com/vcrcovery/vcrcovery/internal/trapd/trap"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// pipeline turns notifications into Zabbix values and queues them for the deliverer.
// handle is called by the intake (listener or follower) from one goroutine.
type pipeline struct {
	router     *router
	guests     *guests
	fast       *fastPath
	counters   *health.Counters
	log        *slog.Logger
	limiter    *ratelog.Limiter
	forwardKey string
	trapdHost  string
	fastMaxAge time.Duration
	now        func() time.Time
	in         chan item
}

// handle processes one notification; done is called once its values are durable.
func (p *pipeline) handle(t trap.Trap, done func()) {
	p.in <- item{values: p.values(t), done: done}
}

// handleLogged processes one record of the follower, seq its sequence number.
func (p *pipeline) handleLogged(t trap.Trap, seq uint64, done func()) {
	p.in <- item{values: p.values(t), done: done, seq: seq, logged: true}
}

// values returns the Zabbix values of one notification, counting it.
func (p *pipeline) values(t trap.Trap) []zabbix.Value {
	g, err := t.Guest()
	switch {
	case errors.Is(err, trap.ErrNotGuest):
		return p.other(t)
	case err != nil:
		p.counters.Malformed.Add(1)
		p.limiter.Log(slog.LevelWarn, "malformed_guest", "libvirtGuestNotif with missing or mistyped varbinds", "source", t.Source.String(), "err", err)
		return nil
	}
	uuid := g.UUID.String()
	hyp, bySource := p.router.route(g.Source, g.UUID)
	if hyp == nil {
		p.counters.Rejected.Add(1)
		p.counters.RejectedSource.Add(1)
		p.limiter.Log(slog.LevelWarn, "unknown_source", "guest trap from an address that is no inventory hypervisor, about a VM of no service",
			"source", g.Source.String(), "vm_uuid", uuid, "vm", g.Name)
		return nil
	}
	p.counters.Decoded.Add(1)
	var out []zabbix.Value
	changed, err := p.guests.observe(hyp.Name, uuid, g.Name)
	if err != nil {
		p.limiter.Log(slog.LevelError, "guests", "cannot save the known guests; discovery sent anyway", "err", err)
	}
	if changed {
		// The full set, before the state values, in the same ordered stream.
		out = append(out, zabbix.Value{Host: hyp.ZabbixHost, Key: zabbix.KeyGuestDiscovery, Value: p.guests.discovery(hyp.Name), Clock: g.Received})
		p.log.Info("new guest: discovery sent", "hypervisor", hyp.Name, "vm_uuid", uuid, "vm", g.Name)
	}
	out = append(out,
		zabbix.Value{Host: hyp.ZabbixHost, Key: zabbix.KeyGuestState(uuid), Value: strconv.Itoa(int(g.State)), Clock: g.Received},
		zabbix.Value{Host: hyp.ZabbixHost, Key: zabbix.KeyGuestStateText(uuid), Value: g.State.String(), Clock: g.Received},
	)
	p.log.Debug("guest trap", "hypervisor", hyp.Name, "vm_uuid", uuid, "vm", g.Name, "state", g.State.String(), "source", g.Source.String())
	p.maybeFastPath(g, hyp.Name, bySource)
	return out
}

// maybeFastPath starts recovery at once for a protected VM that shut off or crashed,
// when the trap is fresh (follow mode may read an old log after a restart) and came
// from the service's own hypervisor.
func (p *pipeline) maybeFastPath(g trap.Guest, hyp string, bySource bool) {
	if g.State != libvirtmib.StateShutoff && g.State != libvirtmib.StateCrashed {
		return
	}
	svc, ok := p.router.inv.ServiceForVM(g.UUID)
	if !ok || !svc.FastPath || p.fast == nil || !p.fast.enabled() {
		return
	}
	if !bySource || svc.Hypervisor != hyp {
		p.limiter.Log(slog.LevelWarn, "fast_path_source", "fast path skipped: the trap did not come from the service's hypervisor",
			"service", svc.Name, "source", g.Source.String())
		return
	}
	if age := p.now().Sub(g.Received); age > p.fastMaxAge {
		p.log.Info("fast path skipped: trap too old", "service", svc.Name, "age_seconds", age.Seconds())
		return
	}
	p.fast.trigger(svc, g)
}

// other handles a notification that is not a guest trap: counted (the trapd template
// counts them as rejected), and forwarded as text when a forward item is configured.
func (p *pipeline) other(t trap.Trap) []zabbix.Value {
	p.counters.Rejected.Add(1)
	p.counters.NotGuest.Add(1)
	p.limiter.Log(slog.LevelInfo, "not_guest", "notification that is not a libvirtGuestNotif", "source", t.Source.String(), "trap_oid", t.TrapOID)
	if p.forwardKey == "" {
		return nil
	}
	host := p.trapdHost
	if h, ok := p.router.host(t.Source); ok {
		host = h.ZabbixHost
	}
	if host == "" {
		return nil
	}
	p.counters.Forwarded.Add(1)
	clock := t.Received
	return []zabbix.Value{{Host: host, Key: p.forwardKey, Value: t.Text(), Clock: clock}}
}
