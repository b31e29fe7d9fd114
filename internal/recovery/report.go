package recovery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// ZabbixReporter sends a run's outcome as items of the standby VM's Zabbix host (the
// "vcrcovery standby" template's vcr.recover.* prototypes) and acknowledges the event.
type ZabbixReporter struct {
	Sender *zabbix.Sender
	API    *zabbix.Pending // nil: no acknowledgement
	Host   string          // the standby VM's Zabbix host
}

// stepItems maps run steps onto the template's per-step items; several steps add up.
var stepItems = map[string]string{
	"lock": "lock", "fence": "fence", "primary-check": "fence",
	"container": "container", "address": "container", "container-stop": "container",
	"probe": "probe", "dns-check": "dns", "dns": "dns", "dns-confirm": "dns",
	"quiesce": "hooks", "reverse-sync": "hooks", "verify": "hooks",
}

// Report implements Reporter.
func (z *ZabbixReporter) Report(ctx context.Context, r *Report) error {
	svc := r.Service
	vals := []zabbix.Value{
		{Host: z.Host, Key: zabbix.KeyRecoverResult(svc), Value: r.Result},
		{Host: z.Host, Key: zabbix.KeyRecoverExit(svc), Value: strconv.Itoa(r.ExitCode)},
		{Host: z.Host, Key: zabbix.KeyRecoverDuration(svc), Value: strconv.FormatFloat(r.Seconds, 'f', 6, 64)},
	}
	if r.ServedFrom != "" {
		vals = append(vals, zabbix.Value{Host: z.Host, Key: zabbix.KeyServedFrom(svc), Value: r.ServedFrom})
	}
	sums := map[string]float64{}
	for _, s := range r.Steps {
		name := stepItems[s.Name]
		if strings.HasPrefix(s.Name, "hook:") {
			name = "hooks"
		}
		if name != "" {
			sums[name] += s.Seconds
		}
	}
	for name, sec := range sums {
		vals = append(vals, zabbix.Value{Host: z.Host, Key: zabbix.KeyRecoverStep(svc, name), Value: strconv.FormatFloat(sec, 'f', 6, 64)})
	}
	var errs []error
	if _, err := z.Sender.Send(ctx, vals); err != nil {
		errs = append(errs, err)
	}
	if r.Event != "" && z.API != nil {
		msg := fmt.Sprintf("vcrcovery %s %s: %s in %.3f s (%s)", r.Action, svc, r.Result, r.Seconds, r.Message)
		if r.ServedFrom != "" {
			msg += "; served from " + r.ServedFrom
		}
		if err := z.API.AckEvent(ctx, r.Event, msg); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
