package zabbix

import (
	"context"
	"fmt"
)

// InMaintenance reports whether the Zabbix host named host is in a maintenance period
// now (host.get maintenance_status 1), as fencing reads it: vcr-migrate refuses to move
// a service while its hosts are being worked on.
func (a *API) InMaintenance(ctx context.Context, host string) (bool, error) {
	var hosts []struct {
		MaintenanceStatus string `json:"maintenance_status"`
	}
	params := map[string]any{"output": []string{"maintenance_status"}, "filter": map[string]any{"host": host}}
	if err := a.Call(ctx, "host.get", params, &hosts); err != nil {
		return false, fmt.Errorf("maintenance of host %s: %w", host, err)
	}
	if len(hosts) == 0 {
		return false, fmt.Errorf("maintenance of host %s: no such host", host)
	}
	return hosts[0].MaintenanceStatus == "1", nil
}
