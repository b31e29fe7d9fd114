package datasync

import (
	"context"
	"strconv"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Reporter tells Zabbix one service's outcome.
type Reporter interface {
	Report(ctx context.Context, svc *config.Service, o Outcome) error
}

// ZabbixReporter sends an outcome as items of the service's standby host (the
// "vcrcovery standby" template's vcr.sync.* and vcr.backup.* prototypes).
type ZabbixReporter struct {
	Sender *zabbix.Sender
	// Host returns the Zabbix host of svc's standby.
	Host func(svc *config.Service) string
}

// Report implements Reporter.
func (z *ZabbixReporter) Report(ctx context.Context, svc *config.Service, o Outcome) error {
	host, s := z.Host(svc), svc.Name
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	var vals []zabbix.Value
	add := func(key, v string) { vals = append(vals, zabbix.Value{Host: host, Key: key, Value: v}) }
	if o.Result != "" {
		add(zabbix.KeySyncResult(s), o.Result)
		add(zabbix.KeySyncMaxAge(s), num(o.MaxAge))
		if o.Result != ResultNotDue && o.Result != ResultRefused && o.Result != ResultBusy {
			add(zabbix.KeySyncSeconds(s), num(o.Seconds))
		}
		if o.Age != nil {
			add(zabbix.KeySyncAge(s), num(*o.Age))
		}
	}
	if o.BackupMaxAge > 0 {
		add(zabbix.KeyBackupMaxAge(s), num(o.BackupMaxAge))
		res := "ok"
		if o.BackupError != "" {
			res = o.BackupError
		}
		add(zabbix.KeyBackupResult(s), res)
		if o.BackupAge != nil {
			add(zabbix.KeyBackupAge(s), num(*o.BackupAge))
		}
	}
	_, err := z.Sender.Send(ctx, vals)
	return err
}
