package cpuusage

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Reading is one reading of the clock: wall time for the values' timestamps, and a
// monotonic time for the elapsed time between samples.
type Reading struct {
	// Wall is the wall-clock time, the Zabbix timestamp of the values.
	Wall time.Time
	// Mono is CLOCK_BOOTTIME: time since the sender's host booted, suspend included.
	// Unlike time.Now's monotonic reading, it means the same in every process, so a
	// cron run can subtract the previous run's reading (kept in the state file).
	Mono time.Duration
	// Boot names the boot Mono counts from (/proc/sys/kernel/random/boot_id): readings
	// of different boots cannot be subtracted.
	Boot string
}

// Since returns r - prev, and false when the two readings cannot be compared: another
// boot, or a reading that goes back (which BOOTTIME never does within a boot).
func (r Reading) Since(prev Reading) (time.Duration, bool) {
	if r.Boot != prev.Boot || r.Mono < prev.Mono {
		return 0, false
	}
	return r.Mono - prev.Mono, true
}

// Clock is the sender's time source; tests give a fake one.
type Clock interface {
	Now() Reading
	// Sleep waits d, or until ctx ends (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock reads CLOCK_BOOTTIME and the wall clock.
//
// Why BOOTTIME: the sender subtracts readings taken by different processes (cron mode),
// so it needs a system-wide clock that a wall-clock step (NTP, an operator's date
// command) cannot move; CLOCK_MONOTONIC would do, but it stops while the host is
// suspended, whereas the guests on the (other) hypervisors keep running, so their
// CpuTime keeps growing: BOOTTIME counts that time too.
type SystemClock struct {
	boot string
}

// NewSystemClock reads the boot id once.
func NewSystemClock() (*SystemClock, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return nil, fmt.Errorf("read boot id: %w", err)
	}
	return &SystemClock{boot: strings.TrimSpace(string(b))}, nil
}

// Now reads both clocks.
func (c *SystemClock) Now() Reading {
	var ts unix.Timespec
	// clock_gettime(CLOCK_BOOTTIME) only fails for an unknown clock id (Linux < 2.6.39).
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		panic(fmt.Sprintf("clock_gettime(CLOCK_BOOTTIME): %v", err))
	}
	return Reading{Wall: time.Now().Round(0), Mono: time.Duration(ts.Nano()), Boot: c.boot}
}

// Sleep waits d or until ctx ends.
func (c *SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// FakeClock is a Clock for tests: time moves only when told to (Advance) or when
// someone sleeps (Sleep advances it at once). It is safe for concurrent use.
type FakeClock struct {
	mu sync.Mutex
	r  Reading
	// OnSleep, if set, runs after each Sleep has advanced the clock.
	OnSleep func(d time.Duration)
}

// NewFakeClock returns a fake clock reading r.
func NewFakeClock(r Reading) *FakeClock { return &FakeClock{r: r} }

// Now returns the current fake reading.
func (c *FakeClock) Now() Reading {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.r
}

// Set makes the clock read r.
func (c *FakeClock) Set(r Reading) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.r = r
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.r.Mono += d
	c.r.Wall = c.r.Wall.Add(d)
}

// Sleep advances the clock by d at once.
func (c *FakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.Advance(d)
	}
	if c.OnSleep != nil {
		c.OnSleep(d)
	}
	return nil
}

// NextTick returns the first multiple of interval (counted from the Unix epoch) after
// t: the daemon samples on these ticks, so values are evenly spaced (at :00, :05, :10...
// for 5 s) whatever the start time, and two senders sample at the same moments.
func NextTick(t time.Time, interval time.Duration) time.Time {
	if interval <= 0 {
		return t
	}
	n := t.UnixNano()
	return time.Unix(0, (n/int64(interval)+1)*int64(interval)).In(t.Location())
}
