package migration

import (
	"context"
	"strconv"
	"strings"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// ZabbixReporter sends a move's outcome as items of the service's standby host (its
// standby.host's zabbix_host, where the "vcrcovery standby" template's vcr.migrate.*
// prototypes are discovered).
type ZabbixReporter struct {
	Sender    *zabbix.Sender
	Inventory *config.Inventory
}

// phaseOf maps steps onto the template's phases; several steps add up.
func phaseOf(step string) string {
	switch {
	case step == "pre-copy":
		return "precopy"
	case strings.HasPrefix(step, "refresh-"):
		return "refresh"
	case strings.HasPrefix(step, "source-") && step != "source-cleanup", step == "final-refresh",
		step == "target-start", step == "address", step == "probe", step == "dns", step == "dns-confirm",
		strings.HasPrefix(step, "hook:"):
		return "cutover"
	}
	return ""
}

// Report implements Reporter.
func (z *ZabbixReporter) Report(ctx context.Context, r *Report) error {
	svc := r.Service
	host := ""
	if s, ok := z.Inventory.Service(svc); ok {
		host = s.Standby.Host
		if sb, ok := z.Inventory.Standby(host); ok {
			host = sb.ZabbixHost
		}
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	vals := []zabbix.Value{
		{Host: host, Key: zabbix.KeyMigrateResult(svc), Value: r.Result},
		{Host: host, Key: zabbix.KeyMigrateExit(svc), Value: strconv.Itoa(r.ExitCode)},
		{Host: host, Key: zabbix.KeyMigrateDuration(svc), Value: f(r.Seconds)},
	}
	if r.DowntimeSeconds > 0 {
		vals = append(vals, zabbix.Value{Host: host, Key: zabbix.KeyMigrateDowntime(svc), Value: f(r.DowntimeSeconds)})
	}
	if r.ServedFrom != "" {
		vals = append(vals, zabbix.Value{Host: host, Key: zabbix.KeyServedFrom(svc), Value: r.ServedFrom})
	}
	sums := map[string]float64{}
	for _, s := range r.Steps {
		if p := phaseOf(s.Name); p != "" {
			sums[p] += s.Seconds
		}
	}
	for p, sec := range sums {
		vals = append(vals, zabbix.Value{Host: host, Key: zabbix.KeyMigratePhase(svc, p), Value: f(sec)})
	}
	_, err := z.Sender.Send(ctx, vals)
	return err
}
