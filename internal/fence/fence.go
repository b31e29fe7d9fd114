// Package fence decides whether a service's primary VM is really down before its standby
// takes over: switching a name away from a primary that still serves splits the service
// in two.
//
// Evidence comes from four sources, asked in parallel with short deadlines: the libvirt
// state on the hypervisor's SNMP agent (libvirtGuestState), the last state trapd sent to
// Zabbix (fresher than the agent, whose table is cached for up to 5 s), the availability
// and maintenance status of the VM's Zabbix host, and a connect to the service's port on
// the primary address. A primary whose port answers is never called down.
package fence

import (
	"context"
	"fmt"
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
}

// Check asks every source about svc's primary.
func (c *Checker) Check(ctx context.Context, svc *config.Service) Verdict {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 500 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var (
		mu          sync.Mutex
		v           Verdict
		stateDown   bool
		unreachable bool
		wg          sync.WaitGroup
	)
	note := func(format string, args ...any) {
		mu.Lock()
		v.Evidence = append(v.Evidence, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }

	run(func() {
		st, err := c.snmpState(ctx, svc)
		if err != nil {
			note("libvirt state over snmp: %v", err)
			return
		}
		note("libvirt state over snmp: %s", st)
		if st.Down() {
			mu.Lock()
			stateDown = true
			mu.Unlock()
		}
	})
	run(func() {
		addr := svc.PrimaryAddress
		pt := c.PortTimeout
		if pt <= 0 {
			pt = c.Inventory.Fence.PortTimeout
		}
		p := &probe.TCP{Ports: svc.Probe.Ports[:1], Attempt: pt}
		if err := p.Once(ctx, addr); err != nil {
			note("primary port %s:%d silent (%v)", addr, svc.Probe.Ports[0], shortErr(err))
			return
		}
		note("primary port %s:%d answers", addr, svc.Probe.Ports[0])
		mu.Lock()
		v.Serving = true
		mu.Unlock()
	})
	var api *zabbix.API
	if c.API != nil {
		api = c.API()
	}
	if api != nil {
		run(func() {
			st, ok, err := c.zabbixState(ctx, api, svc)
			switch {
			case err != nil:
				note("last state in zabbix: %v", err)
			case !ok:
				note("last state in zabbix: none")
			default:
				note("last state in zabbix: %s", st)
				if st.Down() {
					mu.Lock()
					stateDown = true
					mu.Unlock()
				}
			}
		})
		run(func() {
			avail, maint, err := c.zabbixHost(ctx, api, svc)
			if err != nil {
				note("zabbix host %s: %v", svc.ZabbixHost, err)
				return
			}
			note("zabbix host %s: %s%s", svc.ZabbixHost, avail, map[bool]string{true: ", in maintenance"}[maint])
			mu.Lock()
			unreachable = avail == "unreachable"
			v.Maintenance = maint
			mu.Unlock()
		})
	}
	wg.Wait()
	v.Down = (stateDown || unreachable) && !v.Serving
	return v
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

func (c *Checker) snmpState(ctx context.Context, svc *config.Service) (libvirtmib.GuestState, error) {
	h, ok := c.Inventory.Hypervisor(svc.Hypervisor)
	if !ok {
		return 0, fmt.Errorf("no hypervisor %q", svc.Hypervisor)
	}
	hc := *h
	if d, ok := ctx.Deadline(); ok {
		// One try within the fencing budget, no retries beyond it.
		hc.Timeout, hc.Retries = time.Until(d), 0
	}
	a, err := hypervisor.Dial(ctx, c.Inventory, &hc)
	if err != nil {
		return 0, err
	}
	defer a.Close()
	return a.GuestState(svc.VMUUID)
}

// zabbixState reads the last value of vcr.guest.state[UUID] on the hypervisor's host.
func (c *Checker) zabbixState(ctx context.Context, api *zabbix.API, svc *config.Service) (libvirtmib.GuestState, bool, error) {
	h, ok := c.Inventory.Hypervisor(svc.Hypervisor)
	if !ok {
		return 0, false, fmt.Errorf("no hypervisor %q", svc.Hypervisor)
	}
	var items []struct {
		LastValue string `json:"lastvalue"`
		LastClock string `json:"lastclock"`
	}
	params := map[string]any{
		"output": []string{"lastvalue", "lastclock"},
		"host":   h.ZabbixHost,
		"filter": map[string]any{"key_": zabbix.KeyGuestState(svc.VMUUID.String())},
	}
	if err := api.Call(ctx, "item.get", params, &items); err != nil {
		return 0, false, err
	}
	if len(items) == 0 || items[0].LastClock == "0" || items[0].LastClock == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(items[0].LastValue)
	if err != nil {
		return 0, false, fmt.Errorf("last value %q is not a state", items[0].LastValue)
	}
	return libvirtmib.GuestState(n), true, nil
}

// zabbixHost reads the availability of the VM host's interfaces and its maintenance.
func (c *Checker) zabbixHost(ctx context.Context, api *zabbix.API, svc *config.Service) (availability string, maintenance bool, err error) {
	var hosts []struct {
		MaintenanceStatus string `json:"maintenance_status"`
		Interfaces        []struct {
			Available string `json:"available"`
		} `json:"interfaces"`
	}
	params := map[string]any{
		"output":           []string{"maintenance_status"},
		"selectInterfaces": []string{"available"},
		"filter":           map[string]any{"host": svc.ZabbixHost},
	}
	if err := api.Call(ctx, "host.get", params, &hosts); err != nil {
		return "", false, err
	}
	if len(hosts) == 0 {
		return "", false, fmt.Errorf("no such host")
	}
	h := hosts[0]
	// interface.available (6.0): 0 unknown, 1 available, 2 unavailable. The host is
	// unreachable when it has interfaces and none is available while one is unavailable.
	availability = "availability unknown"
	anyUp, anyDown := false, false
	for _, i := range h.Interfaces {
		anyUp = anyUp || i.Available == "1"
		anyDown = anyDown || i.Available == "2"
	}
	switch {
	case anyUp:
		availability = "reachable"
	case anyDown:
		availability = "unreachable"
	}
	return availability, h.MaintenanceStatus == "1", nil
}
