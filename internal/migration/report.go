package migration

import (
	"context"
	"strconv"
	"strings"

	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// ZabbixReporter sends a move's outcome as items of the service's standby host (the
// "vcrcovery standby" template's vcr.migrate.* prototypes).
type ZabbixReporter struct {
	Sender *zabbix.Sender
	Host   string
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
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	vals := []zabbix.Value{
		{Host: z.Host, Key: zabbix.KeyMigrateResult(svc), Value: r.Result},
		{Host: z.Host, Key: zabbix.KeyMigrateExit(svc), Value: strconv.Itoa(r.ExitCode)},
		{Host: z.Host, Key: zabbix.KeyMigrateDuration(svc), Value: f(r.Seconds)},
	}
	if r.DowntimeSeconds > 0 {
		vals = append(vals, zabbix.Value{Host: z.Host, Key: zabbix.KeyMigrateDowntime(svc), Value: f(r.DowntimeSeconds)})
	}
	if r.ServedFrom != "" {
		vals = append(vals, zabbix.Value{Host: z.Host, Key: zabbix.KeyServedFrom(svc), Value: r.ServedFrom})
	}
	sums := map[string]float64{}
	for _, s := range r.Steps {
		if p := phaseOf(s.Name); p != "" {
			sums[p] += s.Seconds
		}
	}
	for p, sec := range sums {
		vals = append(vals, zabbix.Value{Host: z.Host, Key: zabbix.KeyMigratePhase(svc, p), Value: f(sec)})
	}
	_, err := z.Sender.Send(ctx, vals)
	return err
}
