package sampler

import (
	"context"
	"errors"
	"hash/fnv"
	"math"
	"strconv"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cpuusage"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Health items on each hypervisor's host (vcrcovery hypervisor template).
const (
	KeySenderError    = zabbix.KeySenderError
	KeySenderGuests   = zabbix.KeySenderGuests
	KeySenderDuration = zabbix.KeySenderDuration
	KeySenderVersion  = zabbix.KeySenderVersion
)

// guestValues returns the items of every guest: state (number and text), vCPUs and
// memory always, CPU % when the sample gave one. All carry the sample's time.
func guestValues(host string, at cpuusage.Reading, guests []hypervisor.Guest, results []cpuusage.GuestResult) []zabbix.Value {
	out := make([]zabbix.Value, 0, 5*len(guests))
	for i, g := range guests {
		u := g.UUID.String()
		if r := results[i]; r.Outcome.HasValue() {
			out = append(out, zabbix.Value{Host: host, Key: zabbix.KeyGuestCPU(u), Value: FormatCPU(r.CPU), Clock: at.Wall})
		}
		out = append(out,
			zabbix.Value{Host: host, Key: zabbix.KeyGuestState(u), Value: strconv.Itoa(int(g.State)), Clock: at.Wall},
			zabbix.Value{Host: host, Key: zabbix.KeyGuestStateText(u), Value: g.State.String(), Clock: at.Wall},
			zabbix.Value{Host: host, Key: zabbix.KeyGuestVCPUs(u), Value: strconv.FormatUint(uint64(g.VCPUs), 10), Clock: at.Wall},
			zabbix.Value{Host: host, Key: zabbix.KeyGuestMemory(u), Value: strconv.FormatUint(uint64(g.MemoryMiB), 10), Clock: at.Wall},
		)
	}
	return out
}

// FormatCPU formats a CPU % for Zabbix: at most 6 decimals, in plain notation, and
// never 0 for a guest that used any CPU time at all (the template's "hung" trigger
// fires on 0).
func FormatCPU(v float64) string {
	r := math.Round(v*1e6) / 1e6
	if r == 0 && v > 0 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// discoveryValue returns the hypervisor's discovery value: every guest of the table,
// each with the service whose primary it is and that service's standby (Zabbix LLD marks
// a guest that is missing from the value as lost, so it always holds the full set).
func (e *Engine) discoveryValue(h *hvRun, guests []hypervisor.Guest, at cpuusage.Reading) zabbix.Value {
	rows := make([]zabbix.Guest, len(guests))
	for i, g := range guests {
		rows[i] = e.discoveryRow(g)
	}
	return zabbix.Value{Host: h.cfg.ZabbixHost, Key: zabbix.KeyGuestDiscovery, Value: zabbix.GuestDiscovery(rows), Clock: at.Wall}
}

func (e *Engine) discoveryRow(g hypervisor.Guest) zabbix.Guest {
	r := zabbix.Guest{UUID: g.UUID.String(), Name: g.Name}
	if s := e.services[g.UUID]; s != nil {
		r.Service, r.Standby = s.Name, s.Standby.Host
	}
	return r
}

// discoveryHash identifies the discovery's content cheaply (the guests come sorted by
// UUID), so that the JSON value is only built when it is sent.
func (e *Engine) discoveryHash(guests []hypervisor.Guest) uint64 {
	f := fnv.New64a()
	for _, g := range guests {
		r := e.discoveryRow(g)
		for _, s := range []string{r.UUID, r.Name, r.Service, r.Standby} {
			f.Write([]byte(s))
			f.Write([]byte{0})
		}
	}
	if h := f.Sum64(); h != 0 {
		return h
	}
	return 1 // 0 means "never sent"
}

// discoveryDue reports whether the discovery must be sent: the guests (or their names,
// services, standbys) changed, or DiscoveryEvery passed since it was last sent.
func (e *Engine) discoveryDue(h *hvRun, hash uint64, at cpuusage.Reading) bool {
	if h.st.DiscoveryHash != hash {
		return true
	}
	since, ok := at.Since(h.st.DiscoveryAt)
	return !ok || since >= e.o.DiscoveryEvery
}

// sendHealth sends the hypervisor's KeySender* items (the version too: a text item whose
// template preprocessing keeps only changes, so a round costs Zabbix no history). It runs after the sample even
// when the hypervisor's deadline has passed (a timeout must still be reported).
func (e *Engine) sendHealth(ctx context.Context, h *hvRun, rep *HypervisorReport, began time.Time) {
	if rep.Skipped != "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	now := e.o.Clock.Now()
	el := time.Since(began)
	msg := ""
	if rep.Err != nil {
		msg = rep.Err.Error()
	}
	values := []zabbix.Value{{Host: h.cfg.ZabbixHost, Key: KeySenderError, Value: msg, Clock: now.Wall}}
	if e.o.Version != "" {
		values = append(values, zabbix.Value{Host: h.cfg.ZabbixHost, Key: KeySenderVersion, Value: e.o.Version, Clock: now.Wall})
	}
	if rep.Err == nil {
		values = append(values,
			zabbix.Value{Host: h.cfg.ZabbixHost, Key: KeySenderGuests, Value: strconv.Itoa(rep.Guests), Clock: now.Wall},
			zabbix.Value{Host: h.cfg.ZabbixHost, Key: KeySenderDuration, Value: strconv.FormatFloat(el.Seconds(), 'f', 3, 64), Clock: now.Wall})
	}
	_, err := e.o.Sink.Send(ctx, values)
	if err == nil {
		return
	}
	if errors.Is(err, zabbix.ErrRejected) {
		e.mu.Lock()
		first := !e.healthRejected
		e.healthRejected = true
		e.mu.Unlock()
		if first {
			e.o.Log.Warn("Zabbix refuses the sender's health items: add them to the hypervisor template",
				"host", h.cfg.ZabbixHost, "keys", []string{KeySenderError, KeySenderGuests, KeySenderDuration, KeySenderVersion}, "err", err)
		}
		return
	}
	if rep.SendErr == nil {
		rep.SendErr = err
	}
}
