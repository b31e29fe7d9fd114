package drill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/recovery"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Wire builds the drill of svc with the real dependencies: the LXD server that holds its
// container now (container.Find, as a recovery picks it: a cold standby's scratch
// instance is made where its failover would make the container), the service's probe,
// and Zabbix items on the service's standby host. Its errors carry their exit code:
// cli.ExitUsage for the inventory's files, cli.ExitContainer for an LXD server that
// cannot be reached.
func Wire(ctx context.Context, inv *config.Inventory, svc *config.Service, log *slog.Logger) (*Run, error) {
	place, err := container.Find(ctx, inv, svc.Standby.Container, svc.Standby.Host)
	switch {
	case errors.Is(err, container.ErrConfig):
		return nil, cli.Fail(cli.ExitUsage, err)
	case err != nil:
		return nil, cli.Fail(cli.ExitContainer, err)
	case place.Server == nil:
		return nil, cli.Fail(cli.ExitContainer, fmt.Errorf("service %s: standby %s: %w", svc.Name, place.Standby, place.Err))
	}
	sb, _ := inv.Standby(place.Standby) // Find returned one of the inventory's
	return &Run{
		Inventory:  inv,
		Service:    svc,
		Containers: place.Server,
		// A connection of its own, on the clean-up's context: place.Server is bound to
		// the run's, which SIGTERM has cancelled when the clean-up matters most.
		Remove: func(ctx context.Context, name string) error {
			srv, err := container.Connect(ctx, *sb)
			if err != nil {
				return err
			}
			return srv.Remove(ctx, name)
		},
		Leftovers: place.Server.NamesWithPrefix,
		Probe:     recovery.ProbeService,
		Reporter: &ZabbixReporter{
			Sender: &zabbix.Sender{Addr: inv.Zabbix.Server.String(), Timeout: inv.Zabbix.Timeout},
			Host:   standbyHost(inv, svc),
		},
		Log: log,
	}, nil
}

func standbyHost(inv *config.Inventory, svc *config.Service) string {
	if sb, ok := inv.Standby(svc.Standby.Host); ok {
		return sb.ZabbixHost
	}
	return svc.Standby.Host
}

// All drills services one after the other (a failure of one never stops the next) and
// returns their reports and the exit code of the whole run: 0 when every standby is
// ready, else the highest code. A service whose drill cannot be wired gets a report
// that says why.
func All(ctx context.Context, inv *config.Inventory, services []*config.Service, log *slog.Logger) ([]*Report, int) {
	var reps []*Report
	code := cli.ExitOK
	for _, svc := range services {
		var rep *Report
		r, err := Wire(ctx, inv, svc, log)
		if err != nil {
			rep = &Report{Service: svc.Name, Mode: svc.Standby.Mode.String(), Result: ResultNotReady, Step: "connect",
				ExitCode: cli.ExitCode(err, cli.ExitContainer), Message: "not ready: step connect: " + err.Error()}
			log.Warn("drill finished", "service", svc.Name, "result", rep.Result, "failed_step", rep.Step, "exit_code", rep.ExitCode, "message", rep.Message)
		} else {
			rep = r.Execute(ctx)
		}
		reps = append(reps, rep)
		code = max(code, rep.ExitCode)
		if ctx.Err() != nil {
			break
		}
	}
	return reps, code
}

// ZabbixReporter sends a drill's outcome as items of the service's standby host (the
// "vcrcovery standby" template's vcr.drill.* prototypes).
type ZabbixReporter struct {
	Sender *zabbix.Sender
	Host   string
}

// Report implements Reporter: ready 0/1, the failing step ("" when ready) and, for a
// drill that got its standby up, its seconds.
func (z *ZabbixReporter) Report(ctx context.Context, svc *config.Service, r *Report) error {
	ready := "0"
	if r.Ready {
		ready = "1"
	}
	vals := []zabbix.Value{
		{Host: z.Host, Key: zabbix.KeyDrillReady(svc.Name), Value: ready},
		{Host: z.Host, Key: zabbix.KeyDrillStep(svc.Name), Value: r.Step},
	}
	if r.Ready {
		vals = append(vals, zabbix.Value{Host: z.Host, Key: zabbix.KeyDrillSeconds(svc.Name), Value: strconv.FormatFloat(r.Seconds, 'f', 3, 64)})
	}
	_, err := z.Sender.Send(ctx, vals)
	return err
}
