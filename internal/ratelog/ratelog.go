// Package ratelog logs recurring events of one kind at most once per interval, with a
// count of those it held back. A daemon that receives hostile input (trapd: bad
// communities, garbage datagrams) must log each kind of problem without letting a
// flood of them fill the disk or drown the useful lines.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Limiter logs at most one event per kind per interval. Safe for concurrent use.
type Limiter struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	kinds map[string]*kind
}

type kind struct {
	last       time.Time
	suppressed int
}

// New returns a Limiter that logs to log at most once per every for each kind.
func New(log *slog.Logger, every time.Duration) *Limiter {
	return &Limiter{log: log, every: every, now: time.Now, kinds: map[string]*kind{}}
}

// Log logs msg with args at level, unless an event of the same kind was logged less
// than the interval ago; the next one logged then carries "suppressed": how many were
// held back meanwhile.
func (l *Limiter) Log(level slog.Level, kindName, msg string, args ...any) {
	l.mu.Lock()
	k := l.kinds[kindName]
	if k == nil {
		k = &kind{}
		l.kinds[kindName] = k
	}
	now := l.now()
	if !k.last.IsZero() && now.Sub(k.last) < l.every {
		k.suppressed++
		l.mu.Unlock()
		return
	}
	n := k.suppressed
	k.last, k.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.log.Log(context.Background(), level, msg, append([]any{"kind", kindName}, args...)...)
}
