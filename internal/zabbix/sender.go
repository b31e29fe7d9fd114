package zabbix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Value is one item value for the trapper.
type Value struct {
	Host  string
	Key   string
	Value string
	// Clock is when the value was taken; the zero time lets the server stamp it.
	Clock time.Time
}

func (v Value) String() string { return v.Host + ":" + v.Key }

// Sender errors callers branch on.
var (
	// ErrRejected: the server processed the request but refused some values (unknown
	// host or key, disabled item, item not of type trapper, host not allowed).
	ErrRejected = errors.New("values rejected by the Zabbix server")
	// ErrUncertain: the request was written but no valid reply came back, so the server
	// may or may not have stored the values. Resending may duplicate them.
	ErrUncertain = errors.New("outcome unknown")
)

// Sender sends values to a Zabbix server's trapper, many per connection, as
// zabbix_sender does. It is safe for concurrent use.
//
// The server's reply only counts failures ("processed: 9; failed: 1"), and resending a
// batch would store its accepted values twice. So that a rejected host/key never hides
// among accepted ones, a Sender remembers which host/key pairs the server accepted:
// known pairs travel in full batches, pairs never seen travel in batches of one host,
// and the pairs of a batch with some failures travel one value per request the next
// time, which names the rejected ones exactly.
type Sender struct {
	// Addr is the trapper's host:port.
	Addr string
	// Timeout bounds one request (connect, write, reply); ctx may shorten it. Default 5s.
	Timeout time.Duration
	// BatchSize is the number of values per request. Default 1000.
	BatchSize int
	// Retries is how often a request that could not be written is tried again, with
	// Backoff doubling between tries. A request that was written is never resent.
	Retries int
	Backoff time.Duration
	// Compress sends zlib-compressed requests (Zabbix 4.0+).
	Compress bool
	// MaxReply caps a reply's size. Default 1 MiB: a sender reply is a short JSON line.
	MaxReply int

	mu     sync.Mutex
	known  map[pairKey]bool // accepted before: batch freely
	single map[pairKey]bool // was in a batch with failures: send alone next time
}

type pairKey struct{ host, key string }

// Result counts what the server did with the values of one Send.
type Result struct {
	Processed int
	Failed    int
	Total     int
	// Rejected are the values known to be refused.
	Rejected []Value
	// Ambiguous are values of batches that had failures that could not yet be pinned
	// to a value: some of them were stored, Failed-len(Rejected) were not.
	Ambiguous []Value
}

func (s *Sender) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 5 * time.Second
}

func (s *Sender) batchSize() int {
	if s.BatchSize > 0 {
		return s.BatchSize
	}
	return 1000
}

func (s *Sender) maxReply() int {
	if s.MaxReply > 0 {
		return s.MaxReply
	}
	return 1 << 20
}

// Send sends values and reports what the server did with them. The error wraps
// ErrRejected when some values were refused (the Result says which), ErrUncertain when a
// reply was lost after the request was written, or the transport error otherwise; the
// values of requests that failed to go out are not counted in the Result.
func (s *Sender) Send(ctx context.Context, values []Value) (Result, error) {
	var res Result
	known, fresh, single := s.partition(values)

	var firstErr error
	send := func(batch []Value, kind batchKind) bool {
		r, err := s.sendBatch(ctx, batch)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return false
		}
		res.Processed += r.processed
		res.Failed += r.failed
		res.Total += r.total
		s.learn(batch, r, kind, &res)
		return true
	}

	for _, b := range chunks(known, s.batchSize()) {
		if !send(b, batchKnown) {
			return res, firstErr
		}
	}
	for _, group := range fresh {
		for _, b := range chunks(group, s.batchSize()) {
			if !send(b, batchFresh) {
				return res, firstErr
			}
		}
	}
	for _, v := range single {
		if !send([]Value{v}, batchSingle) {
			return res, firstErr
		}
	}
	if res.Failed > 0 {
		return res, fmt.Errorf("send %d values to %s: %w: %d failed (%s)", res.Total, s.Addr, ErrRejected, res.Failed, describe(res))
	}
	return res, nil
}

type batchKind int

const (
	batchKnown batchKind = iota
	batchFresh
	batchSingle
)

// partition splits values by what the Sender knows of their host/key pair, keeping the
// order of values within each part; fresh values are grouped by host.
func (s *Sender) partition(values []Value) (known []Value, fresh [][]Value, single []Value) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byHost := map[string]int{}
	for _, v := range values {
		k := pairKey{v.Host, v.Key}
		switch {
		case s.single[k]:
			single = append(single, v)
		case s.known[k]:
			known = append(known, v)
		default:
			i, ok := byHost[v.Host]
			if !ok {
				i = len(fresh)
				byHost[v.Host] = i
				fresh = append(fresh, nil)
			}
			fresh[i] = append(fresh[i], v)
		}
	}
	return known, fresh, single
}

// learn records what a batch's reply says about its pairs.
func (s *Sender) learn(batch []Value, r reply, kind batchKind, res *Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.known == nil {
		s.known, s.single = map[pairKey]bool{}, map[pairKey]bool{}
	}
	switch {
	case r.failed == 0:
		for _, v := range batch {
			k := pairKey{v.Host, v.Key}
			s.known[k] = true
			delete(s.single, k)
		}
	case r.failed >= len(batch) || kind == batchSingle:
		// Every value failed: each one is known to be rejected. The pair is not
		// remembered as bad: the item may be created a minute later (LLD).
		for _, v := range batch {
			delete(s.known, pairKey{v.Host, v.Key})
		}
		res.Rejected = append(res.Rejected, batch...)
	default:
		for _, v := range batch {
			k := pairKey{v.Host, v.Key}
			delete(s.known, k)
			s.single[k] = true
		}
		res.Ambiguous = append(res.Ambiguous, batch...)
	}
}

func chunks(vs []Value, n int) [][]Value {
	var out [][]Value
	for len(vs) > n {
		out = append(out, vs[:n])
		vs = vs[n:]
	}
	if len(vs) > 0 {
		out = append(out, vs)
	}
	return out
}

// describe names the refused values, at most ten, for an error message.
func describe(r Result) string {
	var parts []string
	names := func(vs []Value, max int) string {
		seen := map[string]bool{}
		var out []string
		for _, v := range vs {
			if n := v.String(); !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
		if len(out) > max {
			out = append(out[:max], fmt.Sprintf("and %d more", len(out)-max))
		}
		return strings.Join(out, ", ")
	}
	if len(r.Rejected) > 0 {
		parts = append(parts, "rejected: "+names(r.Rejected, 10))
	}
	if len(r.Ambiguous) > 0 {
		parts = append(parts, "among: "+names(r.Ambiguous, 10))
	}
	return strings.Join(parts, "; ")
}

type reply struct {
	processed, failed, total int
	seconds                  float64
}

type wireValue struct {
	Host  string `json:"host"`
	Key   string `json:"key"`
	Value string `json:"value"`
	Clock int64  `json:"clock,omitempty"`
	NS    int    `json:"ns,omitempty"`
}

type wireRequest struct {
	Request string      `json:"request"`
	Data    []wireValue `json:"data"`
	Clock   int64       `json:"clock"`
	NS      int         `json:"ns"`
}

// sendBatch sends one request, retrying only while nothing was written.
func (s *Sender) sendBatch(ctx context.Context, batch []Value) (reply, error) {
	req := wireRequest{Request: "sender data", Data: make([]wireValue, len(batch))}
	for i, v := range batch {
		w := wireValue{Host: v.Host, Key: v.Key, Value: v.Value}
		if !v.Clock.IsZero() {
			w.Clock, w.NS = v.Clock.Unix(), v.Clock.Nanosecond()
		}
		req.Data[i] = w
	}
	now := time.Now()
	req.Clock, req.NS = now.Unix(), now.Nanosecond()
	body, err := json.Marshal(req)
	if err != nil {
		return reply{}, fmt.Errorf("encode %d values: %w", len(batch), err)
	}
	frame, err := encodeFrame(body, s.Compress)
	if err != nil {
		return reply{}, err
	}
	backoff := s.Backoff
	if backoff <= 0 {
		backoff = 200 * time.Millisecond
	}
	for attempt := 0; ; attempt++ {
		r, written, err := s.roundTrip(ctx, frame)
		if err == nil {
			return r, nil
		}
		if written {
			return reply{}, fmt.Errorf("send %d values to %s: %w: %w", len(batch), s.Addr, ErrUncertain, err)
		}
		if attempt >= s.Retries || ctx.Err() != nil {
			return reply{}, fmt.Errorf("send %d values to %s: %w", len(batch), s.Addr, err)
		}
		select {
		case <-time.After(backoff):
			backoff *= 2
		case <-ctx.Done():
			return reply{}, fmt.Errorf("send %d values to %s: %w (after %v)", len(batch), s.Addr, ctx.Err(), err)
		}
	}
}

// roundTrip writes one frame and reads the reply. written tells whether the whole
// request reached the socket (after which the server may have acted on it).
func (s *Sender) roundTrip(ctx context.Context, frame []byte) (r reply, written bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return reply{}, false, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return reply{}, false, err
	}
	// A cancelled ctx unblocks the read at once rather than at the deadline.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(frame); err != nil {
		return reply{}, false, fmt.Errorf("write request: %w", err)
	}
	body, err := readFrame(conn, s.maxReply())
	if err != nil {
		return reply{}, true, err
	}
	r, err = parseReply(body)
	return r, true, err
}

var infoRE = regexp.MustCompile(`processed: (\d+); failed: (\d+); total: (\d+); seconds spent: ([0-9.]+)`)

// parseReply decodes {"response":"success","info":"processed: 1; failed: 0; total: 1; seconds spent: 0.000055"}.
func parseReply(body []byte) (reply, error) {
	var m struct {
		Response string `json:"response"`
		Info     string `json:"info"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return reply{}, fmt.Errorf("%w: reply is not JSON: %v", ErrProtocol, err)
	}
	if m.Response != "success" {
		return reply{}, fmt.Errorf("server answered %q: %s", truncate(m.Response), truncate(m.Info))
	}
	g := infoRE.FindStringSubmatch(m.Info)
	if g == nil {
		return reply{}, fmt.Errorf("%w: reply info %q has no counts", ErrProtocol, truncate(m.Info))
	}
	var r reply
	var err error
	for i, dst := range []*int{&r.processed, &r.failed, &r.total} {
		if *dst, err = strconv.Atoi(g[i+1]); err != nil {
			return reply{}, fmt.Errorf("%w: reply info %q: %v", ErrProtocol, truncate(m.Info), err)
		}
	}
	r.seconds, _ = strconv.ParseFloat(g[4], 64)
	if r.processed+r.failed != r.total {
		return reply{}, fmt.Errorf("%w: reply info %q does not add up", ErrProtocol, truncate(m.Info))
	}
	return r, nil
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
