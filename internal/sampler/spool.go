package sampler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/vcrcovery/vcrcovery/internal/lock"
	"github.com/vcrcovery/vcrcovery/internal/spool"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// ErrSpooled marks values that did not reach Zabbix but are kept in the disk spool, to
// be sent, in order and with their own clocks, once the trapper answers again.
var ErrSpooled = errors.New("spooled")

// Spooled is a Sink in front of the Zabbix trapper that keeps what it cannot take:
// values sent while the trapper is unreachable (or whose reply was lost) go to a
// bounded disk spool (internal/spool, as trapd's), and every Send first replays the
// spool, oldest batch first, so an item's values reach Zabbix in order. Each value
// carries its sample's clock, so a Zabbix restart leaves no hole in the CPU series
// (which "no data" or "CPU 0 %" triggers would misread). Values Zabbix refuses are
// not spooled: retrying would not help.
type Spooled struct {
	Next Sink
	// Spool holds what waits; nil passes values through (Once sets it under the
	// state file's lock: OnceOptions.Spooled).
	Spool *spool.Spool
	Log   *slog.Logger

	mu   sync.Mutex
	down bool // the last send failed: log the outage once, and its end
}

// Send replays the spool, then sends values; on a transport failure they are spooled
// and the error wraps ErrSpooled and the failure.
func (s *Spooled) Send(ctx context.Context, values []zabbix.Value) (zabbix.Result, error) {
	if s.Spool == nil {
		return s.Next.Send(ctx, values)
	}
	if s.Spool.Values() == 0 {
		res, err := s.Next.Send(ctx, values)
		if !unreachable(err) {
			return res, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.keep(values, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.replay(ctx); err != nil {
		return s.keep(values, err)
	}
	res, err := s.Next.Send(ctx, values)
	if unreachable(err) {
		return s.keep(values, err)
	}
	return res, err
}

// unreachable: the trapper did not answer, or its answer was lost (zabbix.ErrUncertain:
// the values may be stored, and are sent again, as trapd does).
func unreachable(err error) bool { return err != nil && !errors.Is(err, zabbix.ErrRejected) }

// keep spools values after the failure cause.
func (s *Spooled) keep(values []zabbix.Value, cause error) (zabbix.Result, error) {
	dropped, err := s.Spool.Append(values)
	if err != nil {
		return zabbix.Result{}, fmt.Errorf("spool %d values (zabbix: %v): %w", len(values), cause, err)
	}
	if !s.down {
		s.down = true
		s.Log.Warn("zabbix trapper unreachable: spooling values", "err", cause)
	}
	if dropped > 0 {
		s.Log.Warn("spool full: oldest values dropped", "values", dropped)
	}
	return zabbix.Result{Total: len(values)}, fmt.Errorf("%d values, %d in the spool: %w", len(values), s.Spool.Values(), errors.Join(ErrSpooled, cause))
}

// replay sends the spooled batches, oldest first, until the spool is empty or the
// trapper fails again (that error is returned; the batch stays).
func (s *Spooled) replay(ctx context.Context) error {
	n := s.Spool.Values()
	for {
		batch, err := s.Spool.Peek()
		if errors.Is(err, spool.ErrEmpty) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the spool: %w", err)
		}
		res, err := s.Next.Send(ctx, batch)
		if unreachable(err) {
			return err
		}
		if err != nil {
			s.Log.Warn("spooled values refused by zabbix", "values", len(res.Rejected)+len(res.Ambiguous), "err", err)
		}
		if err := s.Spool.Ack(); err != nil {
			return fmt.Errorf("acknowledge a replayed batch: %w", err)
		}
	}
	if s.down || n > 0 {
		s.down = false
		s.Log.Info("zabbix trapper reachable again: spool replayed", "values", n)
	}
	return nil
}

// OpenSpool opens the spool in dir under an exclusive lock (dir + ".lock"), so that a
// daemon and cron runs never share one; close releases both.
func OpenSpool(ctx context.Context, dir string, maxBytes int64) (sp *spool.Spool, closeFn func(), err error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, nil, fmt.Errorf("create the spool's folder: %w", err)
	}
	l, err := lock.Acquire(ctx, dir+".lock")
	if err != nil {
		return nil, nil, fmt.Errorf("lock the spool %s: %w", dir, err)
	}
	sp, err = spool.Open(dir, spool.Options{MaxBytes: maxBytes})
	if err != nil {
		l.Unlock()
		return nil, nil, fmt.Errorf("open the spool %s: %w", dir, err)
	}
	return sp, func() { sp.Close(); l.Unlock() }, nil
}
