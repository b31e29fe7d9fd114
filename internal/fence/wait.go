package fence

import (
	"context"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
)

// Clock is the time the retry loop of Await runs on; tests give a fake one that never
// sleeps.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// After is time.After.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Asker is what Await asks again: a Checker, or a fake of it.
type Asker interface {
	Check(ctx context.Context, svc *config.Service) Verdict
}

// retryEvery is the pause between two checks of Await.
const retryEvery = 100 * time.Millisecond

// Await asks until the evidence decides (Down, Serving or Maintenance) or wait has
// passed on clock, and returns the last verdict: a run started by trapd's fast path can
// be ahead of the SNMP agent's cache (up to 5 s) and of Zabbix's history sync (1 s).
// The error is ctx's when it ends first. A nil clock is RealClock.
func Await(ctx context.Context, a Asker, svc *config.Service, wait time.Duration, clock Clock) (Verdict, error) {
	if clock == nil {
		clock = RealClock{}
	}
	v := a.Check(ctx, svc)
	deadline := clock.Now().Add(wait)
	for !v.Down && !v.Serving && !v.Maintenance && clock.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-clock.After(retryEvery):
		}
		v = a.Check(ctx, svc)
	}
	return v, nil
}

// StepClock is a Clock for tests: it moves only when waited on, by the whole wait,
// so a test of the retry loop never sleeps.
type StepClock struct{ T time.Time }

// Now is the clock's time.
func (c *StepClock) Now() time.Time { return c.T }

// After moves the clock on by d and returns a channel that has already fired.
func (c *StepClock) After(d time.Duration) <-chan time.Time {
	c.T = c.T.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.T
	return ch
}
