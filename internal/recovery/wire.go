package recovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/datasync"
	"github.com/vcrcovery/vcrcovery/internal/fence"
	"github.com/vcrcovery/vcrcovery/internal/probe"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Wire builds a Run with the real dependencies for svc: the LXD server that holds its
// container now (container.Find; its standbys entry unless it was migrated), the
// inventory's DNS server and key, the fencing sources and Zabbix. The Zabbix API is
// optional (no api_url: no Zabbix evidence, no acknowledgement); if it cannot be
// reached the run goes on without it and says so. Its errors carry their exit code
// (cli.Error): cli.ExitUsage for the inventory's files (TSIG key, a standby's
// certificate and key), cli.ExitContainer when no LXD server that holds the container
// can be reached (refused, or not trusting the client certificate).
// A DNS server that does not answer is found by the run's first step (exit 6).
func Wire(ctx context.Context, inv *config.Inventory, svc *config.Service, log *slog.Logger) (*Run, error) {
	sb, ok := inv.Standby(svc.Standby.Host)
	if !ok {
		return nil, cli.Fail(cli.ExitUsage, fmt.Errorf("service %s: no standby %q", svc.Name, svc.Standby.Host))
	}
	// The container may have moved (vcr-migrate): the LXD servers say where it is now.
	place, err := container.Find(ctx, inv, svc.Standby.Container, svc.Standby.Host)
	if errors.Is(err, container.ErrConfig) {
		return nil, cli.Fail(cli.ExitUsage, err)
	}
	if err != nil {
		return nil, cli.Fail(cli.ExitContainer, err)
	}
	if place.Server == nil {
		return nil, cli.Fail(cli.ExitContainer, fmt.Errorf("service %s: standby %s: %w", svc.Name, place.Standby, place.Err))
	}
	lxdServer := place.Server
	relocate := func(ctx context.Context) (Containers, string, error) {
		p, err := container.Find(ctx, inv, svc.Standby.Container, svc.Standby.Host)
		if err == nil && p.Server == nil {
			err = fmt.Errorf("standby %s: %w", p.Standby, p.Err)
		}
		if err != nil {
			return nil, "", err
		}
		return p.Server, p.Standby, nil
	}
	// The API login runs beside the recovery: it must not delay it.
	var api *zabbix.Pending
	if inv.Zabbix.APIURL != "" {
		api = zabbix.LoginAsync(ctx, func(ctx context.Context) (*zabbix.API, error) {
			a, err := connectAPI(ctx, inv)
			if err != nil {
				log.Warn("zabbix API unavailable: fencing without Zabbix evidence, no event acknowledgement", "err", err)
			}
			return a, err
		})
	}
	var evidenceReady func(context.Context) error
	if api != nil {
		evidenceReady = func(ctx context.Context) error { _, err := api.Wait(ctx); return err }
	}
	return &Run{
		Inventory:  inv,
		Service:    svc,
		Standby:    place.Standby,
		Containers: lxdServer,
		Relocate:   relocate,
		DNS:        inv.DNSClient(),
		Fence: &fence.Checker{Inventory: inv, API: api.Ready, LastServed: func(svc *config.Service) time.Time {
			return datasync.LastFailback(inv.StateDir, svc.Name)
		}},
		Events: func(ctx context.Context) (EventSource, error) {
			a, err := api.Wait(ctx)
			if a == nil {
				return nil, err // a nil *API in the interface would not be nil
			}
			return a, nil
		},
		Probe: ProbeService,
		Reporter: &ZabbixReporter{
			Sender: &zabbix.Sender{Addr: inv.Zabbix.Server.String(), Timeout: inv.Zabbix.Timeout},
			API:    api,
			Host:   sb.ZabbixHost,
		},
		Log: log,
		api: api,
		// A dry run waits for the login so that its plan shows the Zabbix evidence.
		EvidenceReady: evidenceReady,
	}, nil
}

// ProbeService is the real Prober: svc's probe ports (and send/expect) at addr, with
// backoff until ctx ends. A drill probes its standby the same way.
func ProbeService(ctx context.Context, svc *config.Service, addr netip.Addr) error {
	p := &probe.TCP{Ports: svc.Probe.Ports, Send: svc.Probe.Send, Expect: svc.Probe.Expect}
	_, err := p.Wait(ctx, addr)
	return err
}

// Close ends what Wire opened: the Zabbix API session of a username login (a session
// left open per run would pile up in Zabbix's sessions table).
func (r *Run) Close(ctx context.Context) {
	if r.api != nil {
		r.api.Close(ctx, r.Log)
	}
}

func connectAPI(ctx context.Context, inv *config.Inventory) (*zabbix.API, error) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return zabbix.Login(cctx, inv.Zabbix)
}
