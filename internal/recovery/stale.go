package recovery

import (
	"context"
	"fmt"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/datasync"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// EventSource reads a Zabbix event (zabbix.API).
type EventSource interface {
	Event(ctx context.Context, id string) (zabbix.Event, error)
}

// eventWait bounds the stale-event check: the API login (run beside the start of the
// run) and one event.get. A run without an answer goes on, with fencing as its guard.
const eventWait = 3 * time.Second

// staleEvent is the first step of a recovery started by a Zabbix event (-event): a
// problem that is already resolved, or that began before the service's last failback,
// is not a failure of the primary as it is now. The Zabbix action's own run for a
// failure that trapd's fast path handled, and that was failed back since, comes seconds
// late with such an event (issue 12, item 5): it must change nothing. Runs by hand and
// the fast path (no -event) skip it.
func (r *Run) staleEvent(ctx context.Context, rep *Report) error {
	if r.Event == "" || r.Events == nil {
		return nil
	}
	return r.step(rep, "event-check", func() (string, error) {
		ectx, cancel := context.WithTimeout(ctx, eventWait)
		defer cancel()
		src, err := r.Events(ectx)
		if src == nil {
			return fmt.Sprintf("not checked: no Zabbix API (%v)", err), nil
		}
		ev, err := src.Event(ectx, r.Event)
		if err != nil {
			return fmt.Sprintf("not checked: %v", err), nil
		}
		began := ev.Time().UTC().Format(time.RFC3339Nano)
		if ev.Resolved() {
			return "", end(ResultStale, "stale event %s: its problem (since %s) is already resolved (event %s); nothing changed", r.Event, began, ev.REventID)
		}
		if fb := datasync.LastFailback(r.Inventory.StateDir, r.Service.Name); ev.Time().Before(fb) {
			return "", end(ResultStale, "stale event %s: its problem began at %s, before the last failback of %s at %s; nothing changed",
				r.Event, began, r.Service.Name, fb.UTC().Format(time.RFC3339Nano))
		}
		return "problem open since " + began, nil
	})
}
