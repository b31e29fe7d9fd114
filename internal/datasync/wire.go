package datasync

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Wire builds a Runner with the real dependencies: the LXD server that holds each
// container now (container.Find), the inventory's DNS server, and Zabbix items on each
// service's standby host.
func Wire(inv *config.Inventory, log *slog.Logger) *Runner {
	return &Runner{
		Inventory: inv,
		Locate: func(ctx context.Context, svc *config.Service) (Containers, error) {
			p, err := container.Find(ctx, inv, svc.Standby.Container, svc.Standby.Host)
			if err == nil && p.Server == nil {
				err = fmt.Errorf("standby %s: %w", p.Standby, p.Err)
			}
			if err != nil {
				return nil, fmt.Errorf("find container %s: %w", svc.Standby.Container, err)
			}
			return p.Server, nil
		},
		DNS: inv.DNSClient(),
		Reporter: &ZabbixReporter{
			Sender: &zabbix.Sender{Addr: inv.Zabbix.Server.String(), Timeout: inv.Zabbix.Timeout},
			Host: func(svc *config.Service) string {
				if sb, ok := inv.Standby(svc.Standby.Host); ok {
					return sb.ZabbixHost
				}
				return svc.Standby.Host
			},
		},
		Log: log,
	}
}
