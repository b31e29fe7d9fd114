package provision

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// TestLabPoolTriggers: a pooled service's host gets the pool items, and the values the
// pool agent sends fire "under-replicated" (fewer live replicas than wanted) and
// "latest committed snapshot older than 3 periods", which resolve once healthy values
// come in.
func TestLabPoolTriggers(t *testing.T) {
	inv := labInventory(t)
	api := labAPI(t, inv)
	const host = "vcrt-pooled"
	inv.Pooled = append(inv.Pooled, config.PooledService{Name: host, ZabbixHost: host, Replicas: 2})
	provisionLab(t, api, inv, labOptions(t, inv, ""))
	lab.ReloadZabbixConfig(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sender := &zabbix.Sender{Addr: inv.Zabbix.Server.String(), Timeout: inv.Zabbix.Timeout}
	send := func(replicas int, age float64) {
		t.Helper()
		vs := []zabbix.Value{
			{Host: host, Key: zabbix.KeyPoolOwner, Value: "standby"},
			{Host: host, Key: zabbix.KeyPoolReplicasWanted, Value: "2"},
			{Host: host, Key: zabbix.KeyPoolReplicas, Value: fmt.Sprint(replicas)},
			{Host: host, Key: zabbix.KeyPoolSnapshotPeriod, Value: "30"},
			{Host: host, Key: zabbix.KeyPoolSnapshotAge, Value: fmt.Sprint(age)},
		}
		waitFor(t, "the pool values accepted", func() (bool, error) {
			_, err := sender.Send(ctx, vs)
			return err == nil, err
		})
	}
	problems := func(tag string) ([]zabbix.Problem, error) {
		return api.ProblemsWithTags(ctx, []zabbix.Tag{{Tag: "vcrcovery", Value: tag}, {Tag: TagService, Value: host}}, false)
	}
	// Healthy first, so that a problem left by an earlier run resolves.
	send(2, 5)
	for _, tag := range []string{"pool-under-replicated", "pool-snapshot-old"} {
		waitFor(t, "no open "+tag+" problem while healthy", func() (bool, error) {
			ps, err := problems(tag)
			return err == nil && len(ps) == 0, err
		})
	}
	send(1, 95)
	for _, tag := range []string{"pool-under-replicated", "pool-snapshot-old"} {
		waitFor(t, "a "+tag+" problem on "+host, func() (bool, error) {
			ps, err := problems(tag)
			return err == nil && len(ps) == 1, err
		})
	}
	send(2, 89) // under 3 periods: both resolve
	for _, tag := range []string{"pool-under-replicated", "pool-snapshot-old"} {
		waitFor(t, tag+" resolved", func() (bool, error) {
			ps, err := problems(tag)
			return err == nil && len(ps) == 0, err
		})
	}
}
