// Package lock serialises runs that act on one service on one host (two recover runs
// fired by the Zabbix action and by trapd's fast path, or an operator at 3 a.m.), with
// flock(2) on a file: the kernel drops the lock when a run dies, so a crash never leaves
// a stale lock behind.
package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrBusy: the lock stayed held by another run until ctx ended.
var ErrBusy = errors.New("held by another run")

// Lock is a held lock; Unlock releases it.
type Lock struct {
	f *os.File
}

// Acquire takes the exclusive lock on path (created if needed, folder too), waiting
// until ctx ends. It polls rather than blocking in flock so that the wait obeys ctx.
func Acquire(ctx context.Context, path string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	wait := 5 * time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ErrBusy)
		case <-time.After(wait):
			wait = min(wait*2, 100*time.Millisecond)
		}
	}
}

// Try takes the lock on path without waiting: ErrBusy when another run holds it. A
// periodic job (a sync, a drill) that must never delay a recovery asks this way.
func Try(path string) (*Lock, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Acquire tries once before it looks at ctx
	return Acquire(ctx, path)
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	return l.f.Close() // closing the last descriptor releases the flock
}

// ServicePath is the lock file of one service under the inventory's state_dir: vcr-recover
// and vcr-migrate take the same one, so a recovery and a migration of a service never
// run at once.
func ServicePath(stateDir, service string) string {
	return filepath.Join(stateDir, "locks", service+".lock")
}

// DrillPath is the lock file vcr-recover -test holds for a whole drill of one service:
// two drills of a service never overlap, so a scratch instance found at the start of
// one is a leftover of a drill that was killed. Recoveries never take it.
func DrillPath(stateDir, service string) string {
	return filepath.Join(stateDir, "locks", service+".drill.lock")
}

// MigratePath is the lock file vcr-migrate holds for a whole move of one service (its
// pre-copy included): two migrations of a service never overlap, while vcr-recover,
// which takes only ServicePath, is not held up by a long copy.
func MigratePath(stateDir, service string) string {
	return filepath.Join(stateDir, "locks", service+".migrate.lock")
}
