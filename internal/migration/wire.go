package migration

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/probe"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Wire builds a Move with the real dependencies: the inventory's DNS server and key,
// TCP probes, and Zabbix (maintenance check and report; optional: without api_url no
// maintenance check). The caller sets Service and To (For does). Close ends what it
// opened.
func Wire(ctx context.Context, inv *config.Inventory, log *slog.Logger) (*Move, error) {
	m := &Move{
		Inventory: inv,
		DNS:       inv.DNSClient(),
		Probe: func(ctx context.Context, svc *config.Service, addr netip.Addr) error {
			p := &probe.TCP{Ports: svc.Probe.Ports, Send: svc.Probe.Send, Expect: svc.Probe.Expect}
			_, err := p.Wait(ctx, addr)
			return err
		},
		Log: log,
	}
	m.Reporter = &ZabbixReporter{Sender: &zabbix.Sender{Addr: inv.Zabbix.Server.String(), Timeout: inv.Zabbix.Timeout}, Inventory: inv}
	if inv.Zabbix.APIURL != "" {
		// Logged in beside the run; the maintenance check waits for it (bounded).
		m.api = zabbix.LoginAsync(ctx, func(ctx context.Context) (*zabbix.API, error) {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			return zabbix.Login(cctx, inv.Zabbix)
		})
		m.Maintenance = func(ctx context.Context, host string) (bool, error) {
			api, err := m.api.Wait(ctx)
			if api == nil {
				return false, err
			}
			st, err := api.HostStatus(ctx, host)
			if err != nil {
				return false, fmt.Errorf("maintenance of host %s: %w", host, err)
			}
			return st.Maintenance, nil
		}
	}
	return m, nil
}

// Close logs out of the Zabbix API session Wire opened.
func (m *Move) Close(ctx context.Context) {
	if m.api != nil {
		m.api.Close(ctx, m.Log)
	}
}

// For returns a copy of m that moves svc to the standby named to (sharing m's
// connections: only m is closed).
func (m *Move) For(svc *config.Service, to string) *Move {
	c := *m
	c.Service, c.To = svc, to
	return &c
}
