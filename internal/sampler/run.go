package sampler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/atomicfile"
	"github.com/vcrcovery/vcrcovery/internal/cpuusage"
	"github.com/vcrcovery/vcrcovery/internal/lock"
)

// Run is the daemon: a round on every tick (multiples of the interval since the Unix
// epoch, so values are evenly spaced) until ctx ends, or rounds rounds (0: no limit).
// A round that overruns the next tick makes the daemon skip to the following one (the
// samples' deltas cover the gap; it is logged). Run returns nil when ctx ends.
func (e *Engine) Run(ctx context.Context, rounds int) error {
	clk, iv := e.o.Clock, e.o.Policy.Interval
	var prevTick time.Time
	for n := 0; rounds == 0 || n < rounds; n++ {
		now := clk.Now()
		next := cpuusage.NextTick(now.Wall, iv)
		if err := clk.Sleep(ctx, next.Sub(now.Wall)); err != nil {
			return nil
		}
		if n > 1 { // the first round waits for the agents' cache: it overruns
			if missed := int(next.Sub(prevTick)/iv) - 1; missed > 0 {
				e.o.Log.Warn("round overran the interval: ticks skipped", "ticks", missed,
					"interval_seconds", iv.Seconds())
			}
		}
		prevTick = next
		e.Round(ctx, clk.Now())
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// OnceOptions configure Once.
type OnceOptions struct {
	// StatePath is the state file; its lock is StatePath + ".lock".
	StatePath string
	// Align waits for the next tick (multiple of the interval) before sampling, so
	// that a cron loop of runs gives evenly spaced values.
	Align bool
	// LockWait bounds the wait for a run that still holds the lock (default: one
	// interval).
	LockWait time.Duration
	// Spooled, when set, gets the spool in SpoolDir (bounded by SpoolMax bytes),
	// opened under the state file's lock, for this run.
	Spooled  *Spooled
	SpoolDir string
	SpoolMax int64
}

// ErrLocked: another run held the state file's lock for all of LockWait.
var ErrLocked = errors.New("state file locked by another run")

// Once is cron mode: one round that continues from the state file and writes it back.
// The file is read and written under an exclusive lock (flock), and replaced
// atomically, so overlapping runs neither corrupt it nor lose a sample: the second run
// waits, then finds the first one's sample (and skips a sample that would come less
// than half an interval after it). A missing or unreadable file starts a new sample:
// the first run gives no CPU % yet, only state, vCPUs and memory.
//
// Readings of CLOCK_BOOTTIME (cpuusage.SystemClock) are the same in every process of
// one boot, so the elapsed time between two runs is monotonic; the state file records
// the boot id, and a sample of another boot is not compared with.
func Once(ctx context.Context, o Options, oo OnceOptions) (Report, error) {
	clk, iv := o.Clock, o.Policy.Interval
	if oo.Align {
		now := clk.Now()
		if err := clk.Sleep(ctx, cpuusage.NextTick(now.Wall, iv).Sub(now.Wall)); err != nil {
			return Report{}, err
		}
	}
	wait := oo.LockWait
	if wait <= 0 {
		wait = iv
	}
	lctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	l, err := lock.Acquire(lctx, oo.StatePath+".lock")
	if err != nil {
		if errors.Is(err, lock.ErrBusy) {
			return Report{}, fmt.Errorf("%w: %v", ErrLocked, err)
		}
		return Report{}, err
	}
	defer l.Unlock()
	if oo.Spooled != nil {
		sp, closeSpool, err := OpenSpool(lctx, oo.SpoolDir, oo.SpoolMax)
		if err != nil {
			return Report{}, err
		}
		defer closeSpool()
		oo.Spooled.Spool = sp
		defer func() { oo.Spooled.Spool = nil }()
	}
	st, err := LoadState(oo.StatePath)
	if err != nil {
		o.Log.Warn("state file unusable: starting a new sample", "path", oo.StatePath, "err", err)
		st = NewState()
	}
	e, err := New(o, st)
	if err != nil {
		return Report{}, err
	}
	defer e.Close()
	rep := e.Round(ctx, clk.Now())
	if err := SaveState(oo.StatePath, e.State()); err != nil {
		return rep, err
	}
	return rep, nil
}

// LoadState reads a state file; a missing file is an empty state.
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return NewState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	st, err := DecodeState(b)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return st, nil
}

// SaveState replaces the state file atomically (mode 0600).
func SaveState(path string, st *State) error {
	b, err := st.Encode()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}
