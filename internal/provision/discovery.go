package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// discovery sends each standby host the list of services whose standby it is
// (vcr.service.discovery), so that the per-service items that vcr-recover reports to
// exist before the first recovery. It is not a configuration change: the server
// discovers the same items from the same list again and changes nothing.
//
// A host created a moment ago is unknown to the trapper until the server reloads its
// configuration cache; the send is then reported as pending, not as a failure, and the
// next run (or any later one) sends it again.
func (r *runner) discovery(ctx context.Context) error {
	if r.opts.Sender == nil || r.opts.DryRun {
		return nil
	}
	for _, host := range r.plan.DiscoveryOrder {
		svcs := r.plan.Discovery[host]
		v := zabbix.Value{Host: host, Key: zabbix.KeyServiceDiscovery, Value: zabbix.ServiceDiscovery(svcs)}
		what := "no services"
		if len(svcs) > 0 {
			what = "services " + strings.Join(svcs, ", ")
		}
		sctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
		_, err := r.opts.Sender.Send(sctx, []zabbix.Value{v})
		cancel()
		switch {
		case err == nil:
			r.rep.add(Sent, "discovery", zabbix.KeyServiceDiscovery+" on "+host, what)
		case errors.Is(err, zabbix.ErrRejected):
			r.rep.add(Pending, "discovery", zabbix.KeyServiceDiscovery+" on "+host,
				"the trapper does not know this host's discovery rule yet (it does after its next configuration cache reload): run vcr-provision again in a minute")
		default:
			return fmt.Errorf("send %s to %s (%s): %w", zabbix.KeyServiceDiscovery, host, what, err)
		}
	}
	return nil
}
