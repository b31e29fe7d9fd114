package dcs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Member is the record under members/<host>.
type Member struct {
	Host string `json:"host"`
	// Since is when the session was started (the host's clock).
	Since time.Time `json:"since"`
	// Lease is the session's lease ID, the token that owner keys carry.
	Lease int64 `json:"lease"`
}

// Session is a host's membership: one lease, kept alive, with the host's member key
// bound to it. Claims and commits are made through it. It ends (Done) when etcd says
// the lease is gone or when it is closed; a new Join starts a new one.
//
// While etcd does not answer, the session does not end: a quorum loss does not expire
// leases (the next etcd leader renews them all), and only the server can tell an
// expired lease. ValidUntil says until when the lease is known to live.
type Session struct {
	c     *Client
	host  string
	lease clientv3.LeaseID
	ttl   time.Duration

	cancel context.CancelFunc
	done   chan struct{}
	loopc  chan struct{}

	mu         sync.Mutex
	validUntil time.Time
	err        error
}

// Join starts a session for host: it grants a lease of the client's TTL, puts the
// member key with it and keeps the lease alive until Close, the client's Close, or the
// lease's loss. An existing member key of the same host (an earlier run whose lease
// has not expired yet) is replaced; its owner keys stay with the old lease until it
// expires.
func (c *Client) Join(ctx context.Context, host string) (*Session, error) {
	if err := checkName("host", host); err != nil {
		return nil, err
	}
	sent := time.Now()
	g, err := c.etcd.Grant(ctx, int64(c.ttl/time.Second))
	if err != nil {
		return nil, fmt.Errorf("join pool as %s: grant lease: %w", host, classify(err))
	}
	// The server may grant more than asked (never less than its minimum TTL).
	ttl := time.Duration(g.TTL) * time.Second
	m, err := json.Marshal(Member{Host: host, Since: sent.UTC(), Lease: int64(g.ID)})
	if err != nil {
		return nil, fmt.Errorf("join pool as %s: %w", host, err)
	}
	if _, err := c.etcd.Put(ctx, c.keys.member(host), string(m), clientv3.WithLease(g.ID)); err != nil {
		// Best effort: an unrevoked lease expires by itself after the TTL.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl)
		c.etcd.Revoke(rctx, g.ID)
		cancel()
		return nil, fmt.Errorf("join pool as %s: put member key: %w", host, classify(err))
	}
	lctx, cancel := context.WithCancel(c.etcd.Ctx())
	s := &Session{
		c: c, host: host, lease: g.ID, ttl: ttl, cancel: cancel,
		done: make(chan struct{}), loopc: make(chan struct{}),
		validUntil: sent.Add(ttl),
	}
	go s.keepAlive(lctx)
	c.log.Info("joined pool", "host", host, "lease", fmt.Sprintf("%x", int64(g.ID)), "ttl_seconds", ttl.Seconds())
	return s, nil
}

// keepAlive renews the lease every TTL/3, one request at a time, until the server
// says the lease is gone or ctx ends. A renewal that etcd does not answer within TTL/3
// is retried at once; the session then stays, only ValidUntil stops moving.
func (s *Session) keepAlive(ctx context.Context) {
	defer close(s.loopc)
	every := s.ttl / 3
	t := time.NewTimer(every)
	defer t.Stop()
	unreachableSince := time.Time{}
	for {
		select {
		case <-ctx.Done():
			s.end(ErrSessionClosed)
			return
		case <-t.C:
		}
		sent := time.Now()
		rctx, cancel := context.WithTimeout(ctx, every)
		resp, err := s.c.etcd.KeepAliveOnce(rctx, s.lease)
		cancel()
		switch {
		case err == nil:
			s.mu.Lock()
			s.validUntil = sent.Add(time.Duration(resp.TTL) * time.Second)
			s.mu.Unlock()
			if !unreachableSince.IsZero() {
				s.c.log.Info("etcd answers again", "host", s.host, "duration_seconds", time.Since(unreachableSince).Seconds())
				unreachableSince = time.Time{}
			}
			t.Reset(every)
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			s.c.log.Warn("session lease lost", "host", s.host, "lease", fmt.Sprintf("%x", int64(s.lease)))
			s.end(ErrLeaseLost)
			return
		case ctx.Err() != nil:
			s.end(ErrSessionClosed)
			return
		default:
			if unreachableSince.IsZero() {
				unreachableSince = sent
				s.c.log.Warn("etcd does not answer the lease keepalive", "host", s.host, "err", classify(err))
			}
			// The attempt itself waited up to TTL/3 (or failed fast: then pause as
			// long, so that a dead endpoint is no busy loop).
			t.Reset(max(time.Until(sent.Add(every)), 0))
		}
	}
}

// end records why the session ended and closes Done, once.
func (s *Session) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
		close(s.done)
	}
}

// Host is the session's host name.
func (s *Session) Host() string { return s.host }

// Lease is the session's lease ID, as in Member.Lease and Owner.Lease.
func (s *Session) Lease() int64 { return int64(s.lease) }

// TTL is the lease's TTL as granted.
func (s *Session) TTL() time.Duration { return s.ttl }

// Done is closed when the session has ended: its lease is gone (Err is ErrLeaseLost),
// or it was closed (ErrSessionClosed). From then on, the host owns nothing through
// this session, and etcd refuses its commits.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is nil while the session runs, then ErrLeaseLost or ErrSessionClosed.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// ValidUntil is the time until which the lease is known to live: the send time of the
// last answered keepalive plus the TTL (the server renewed it later than that). When it
// has passed and Done is not closed, etcd has not answered for a TTL: the lease may
// have expired on the server if only this host is cut off, or be safe in a cluster
// without quorum. The agent keeps serving what it owns, and takes over nothing.
func (s *Session) ValidUntil() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.validUntil
}

// Close ends the session and revokes its lease, which deletes its member key and the
// owner keys it holds at once: a graceful step-down, so that replicas need not wait
// for the TTL. If etcd does not answer, the lease expires by itself after the TTL.
func (s *Session) Close(ctx context.Context) error {
	s.cancel()
	<-s.loopc
	if _, err := s.c.etcd.Revoke(ctx, s.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("leave pool as %s: revoke lease %x: %w", s.host, int64(s.lease), classify(err))
	}
	s.c.log.Info("left pool", "host", s.host)
	return nil
}
