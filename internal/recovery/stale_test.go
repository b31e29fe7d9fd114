package recovery

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/datasync"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

type fakeEvents struct {
	ev  zabbix.Event
	err error
}

func (f fakeEvents) Event(ctx context.Context, id string) (zabbix.Event, error) { return f.ev, f.err }

// TestStaleEvent: a run started by an event whose problem is resolved, or began before
// the service's last failback, changes nothing and exits 0 saying why; a fresh event,
// or one that cannot be checked, goes on to fencing (which recovers here).
func TestStaleEvent(t *testing.T) {
	failback := time.Unix(1795338149, 0)
	problem := func(began time.Time, resolvedBy string) zabbix.Event {
		return zabbix.Event{EventID: "77", Clock: zabbix.Num(began.Unix()), Value: 1, REventID: resolvedBy}
	}
	tests := []struct {
		name     string
		events   EventSource // nil: no API
		failback bool        // the service was failed back at failback
		result   string
		say      string
	}{
		{"began before the last failback", fakeEvents{ev: problem(failback.Add(-3*time.Second), "0")}, true, ResultStale, "before the last failback"},
		{"resolved", fakeEvents{ev: problem(failback.Add(-3*time.Second), "78")}, false, ResultStale, "already resolved (event 78)"},
		{"began after the failback", fakeEvents{ev: problem(failback.Add(time.Minute), "0")}, true, ResultOK, "done"},
		{"never failed back", fakeEvents{ev: problem(failback.Add(-time.Hour), "0")}, false, ResultOK, "done"},
		{"event gone: not checked", fakeEvents{err: zabbix.ErrNoEvent}, true, ResultOK, "done"},
		{"no API: not checked", nil, true, ResultOK, "done"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWorld{dns: []netip.Addr{primaryIP}, verdict: down()}
			rep := run(t, w, func(r *Run) {
				r.Event = "77"
				r.Events = func(ctx context.Context) (EventSource, error) {
					if tt.events == nil {
						return nil, errors.New("login refused")
					}
					return tt.events, nil
				}
				if tt.failback {
					if err := datasync.ClearRecovered(r.Inventory.StateDir, r.Service.Name, "failback", failback); err != nil {
						t.Fatal(err)
					}
				}
			})
			if rep.Result != tt.result || rep.ExitCode != 0 || !strings.Contains(rep.Message, tt.say) {
				t.Errorf("%s exit %d %q, want %s saying %q", rep.Result, rep.ExitCode, rep.Message, tt.result, tt.say)
			}
			if tt.result == ResultStale && len(w.changes) != 0 {
				t.Errorf("a stale event changed %v", w.changes)
			}
		})
	}
}
