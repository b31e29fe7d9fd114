// Package probe tells whether a service answers: a TCP connect to each of its ports,
// optionally writing a line and expecting a reply, retried with backoff until a deadline.
package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ErrTimeout: the deadline passed before the service answered.
var ErrTimeout = errors.New("service did not answer before the probe deadline")

// TCP probes one address.
type TCP struct {
	// Ports must all accept a connection.
	Ports []int
	// Send is written after connecting to the first port, then a line containing Expect
	// must be read (Expect alone: read a banner).
	Send, Expect string
	// Attempt bounds one connection attempt (default 1s); the ctx deadline bounds all.
	Attempt time.Duration
	// FirstBackoff is the pause after the first failed attempt (default 10ms); it doubles
	// up to MaxBackoff (default 500ms). Short, because a container's port opens a few
	// hundred milliseconds after it starts and every millisecond counts in a recovery.
	FirstBackoff, MaxBackoff time.Duration
}

// Result tells how a probe went.
type Result struct {
	Attempts int
	// LastErr is the error of the last failed attempt, if any.
	LastErr error
}

// Wait probes addr until every port answers (nil) or ctx ends (an error wrapping
// ErrTimeout and the last attempt's error).
func (p *TCP) Wait(ctx context.Context, addr netip.Addr) (Result, error) {
	if len(p.Ports) == 0 {
		return Result{}, errors.New("probe: no ports")
	}
	backoff, maxBackoff := p.FirstBackoff, p.MaxBackoff
	if backoff <= 0 {
		backoff = 10 * time.Millisecond
	}
	if maxBackoff <= 0 {
		maxBackoff = 500 * time.Millisecond
	}
	var res Result
	for {
		res.Attempts++
		err := p.Once(ctx, addr)
		if err == nil {
			res.LastErr = nil
			return res, nil
		}
		// An attempt that ctx's end cut short says only that time ran out: the one
		// before says what the service did (refused, silent, a wrong reply).
		if !ended(ctx) || res.LastErr == nil {
			res.LastErr = err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, fmt.Errorf("probe %s after %d attempts: %w (last: %v)", addr, res.Attempts, ErrTimeout, res.LastErr)
		case <-t.C:
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// ended reports whether ctx is done or its deadline has passed (a dial cut by the
// deadline may return before ctx's own timer marks it done).
func ended(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ctx.Err() != nil || (ok && !time.Now().Before(d))
}

// Once makes one attempt on every port.
func (p *TCP) Once(ctx context.Context, addr netip.Addr) error {
	attempt := p.Attempt
	if attempt <= 0 {
		attempt = time.Second
	}
	for i, port := range p.Ports {
		if err := p.port(ctx, attempt, net.JoinHostPort(addr.String(), strconv.Itoa(port)), i == 0); err != nil {
			return err
		}
	}
	return nil
}

func (p *TCP) port(ctx context.Context, attempt time.Duration, hostport string, first bool) error {
	ctx, cancel := context.WithTimeout(ctx, attempt)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return fmt.Errorf("connect %s: %w", hostport, err)
	}
	defer conn.Close()
	if !first || (p.Send == "" && p.Expect == "") {
		return nil
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	if p.Send != "" {
		if _, err := conn.Write([]byte(p.Send)); err != nil {
			return fmt.Errorf("write to %s: %w", hostport, err)
		}
	}
	if p.Expect == "" {
		return nil
	}
	// Read lines (at most 64 KiB in all) until one holds Expect.
	r := bufio.NewReader(&limited{conn, 64 << 10})
	for {
		line, err := r.ReadString('\n')
		if strings.Contains(line, p.Expect) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read from %s: no %q in the reply: %w", hostport, p.Expect, err)
		}
	}
}

// limited stops a peer that streams without end from holding a probe.
type limited struct {
	c    net.Conn
	left int
}

func (l *limited) Read(b []byte) (int, error) {
	if l.left <= 0 {
		return 0, errors.New("reply too long")
	}
	if len(b) > l.left {
		b = b[:l.left]
	}
	n, err := l.c.Read(b)
	l.left -= n
	return n, err
}
