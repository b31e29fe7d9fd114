package zabbix

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeTrapper is a trapper for the sender's logic: it decodes each request with the
// package's own frame reader and answers like Zabbix, refusing keys in reject.
type fakeTrapper struct {
	ln       net.Listener
	reject   map[string]bool                      // host:key
	answer   func(conn net.Conn, req wireRequest) // overrides the normal answer
	mu       sync.Mutex
	requests []wireRequest
	stored   []string
}

func newFakeTrapper(t *testing.T) *fakeTrapper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTrapper{ln: ln, reject: map[string]bool{}}
	t.Cleanup(func() { ln.Close() })
	go f.serve()
	return f
}

func (f *fakeTrapper) serve() {
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			body, err := readFrame(conn, 1<<26)
			if err != nil {
				return
			}
			var req wireRequest
			if err := json.Unmarshal(body, &req); err != nil {
				return
			}
			f.mu.Lock()
			f.requests = append(f.requests, req)
			answer := f.answer
			f.mu.Unlock()
			if answer != nil {
				answer(conn, req)
				return
			}
			failed := 0
			f.mu.Lock()
			for _, v := range req.Data {
				if f.reject[v.Host+":"+v.Key] {
					failed++
				} else {
					f.stored = append(f.stored, v.Host+":"+v.Key+"="+v.Value)
				}
			}
			f.mu.Unlock()
			info := fmt.Sprintf("processed: %d; failed: %d; total: %d; seconds spent: 0.000100", len(req.Data)-failed, failed, len(req.Data))
			b, _ := json.Marshal(map[string]string{"response": "success", "info": info})
			frame, _ := encodeFrame(b, false)
			conn.Write(frame)
		}()
	}
}

func (f *fakeTrapper) addr() string { return f.ln.Addr().String() }

func vals(host string, keys ...string) []Value {
	var out []Value
	for i, k := range keys {
		out = append(out, Value{Host: host, Key: k, Value: fmt.Sprint(i)})
	}
	return out
}

func TestSendAccepted(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprint("compress=", compress), func(t *testing.T) {
			f := newFakeTrapper(t)
			s := &Sender{Addr: f.addr(), Compress: compress, BatchSize: 2}
			clock := time.Unix(1700000000, 123)
			in := append(vals("h1", "a", "b", "c"), Value{Host: "h2", Key: "x", Value: "v", Clock: clock})
			res, err := s.Send(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(Result{Processed: 4, Total: 4}, res); diff != "" {
				t.Fatalf("(-want +got)\n%s", diff)
			}
			// h1's three values in batches of 2, h2's alone: 3 requests.
			if len(f.requests) != 3 {
				t.Fatalf("%d requests, want 3", len(f.requests))
			}
			last := f.requests[2].Data[0]
			if last.Clock != 1700000000 || last.NS != 123 {
				t.Fatalf("clock/ns = %d/%d", last.Clock, last.NS)
			}
			if f.requests[0].Request != "sender data" {
				t.Fatalf("request = %q", f.requests[0].Request)
			}
		})
	}
}

// TestRejectedNamedExactly: a rejected key among accepted ones is first reported as
// ambiguous, never resent (no duplicates), and named exactly on the next send.
func TestRejectedNamedExactly(t *testing.T) {
	f := newFakeTrapper(t)
	f.reject["h1:bad"] = true
	s := &Sender{Addr: f.addr()}

	res, err := s.Send(context.Background(), vals("h1", "a", "bad", "b"))
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
	if res.Processed != 2 || res.Failed != 1 || len(res.Ambiguous) != 3 || len(res.Rejected) != 0 {
		t.Fatalf("first send: %+v", res)
	}
	if len(f.stored) != 2 {
		t.Fatalf("stored %v: a batch was resent", f.stored)
	}

	res, err = s.Send(context.Background(), vals("h1", "a", "bad", "b"))
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "rejected: h1:bad") {
		t.Fatalf("err = %v", err)
	}
	if diff := cmp.Diff([]Value{{Host: "h1", Key: "bad", Value: "1"}}, res.Rejected); diff != "" {
		t.Fatalf("rejected (-want +got)\n%s", diff)
	}
	if len(res.Ambiguous) != 0 || res.Processed != 2 {
		t.Fatalf("second send: %+v", res)
	}

	// Once the item exists (LLD created it), the pair is accepted again.
	delete(f.reject, "h1:bad")
	if _, err := s.Send(context.Background(), vals("h1", "a", "bad")); err != nil {
		t.Fatal(err)
	}
}

func TestWholeHostRejected(t *testing.T) {
	f := newFakeTrapper(t)
	f.reject["ghost:a"], f.reject["ghost:b"] = true, true
	s := &Sender{Addr: f.addr()}
	res, err := s.Send(context.Background(), append(vals("ghost", "a", "b"), vals("h1", "a")...))
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v", err)
	}
	if len(res.Rejected) != 2 || len(res.Ambiguous) != 0 || res.Processed != 1 {
		t.Fatalf("%+v", res)
	}
}

func frameOf(t *testing.T, s string) []byte {
	t.Helper()
	b, err := encodeFrame([]byte(s), false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadReplies: every broken reply gives an error naming what went wrong, no panic
// and no hang, and (since the request was written) ErrUncertain.
func TestBadReplies(t *testing.T) {
	huge := make([]byte, headerLen)
	copy(huge, "ZBXD\x01")
	binary.LittleEndian.PutUint32(huge[5:], 1<<30)
	tests := []struct {
		name  string
		write []byte
		want  string
	}{
		{"not zabbix", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), `does not start with ZBXD`},
		{"bad flags", []byte("ZBXD\x80\x00\x00\x00\x00\x00\x00\x00\x00"), "unknown header flags 0x80"},
		{"truncated header", []byte("ZBXD\x01\x05"), "read header"},
		{"truncated body", frameOf(t, `{"response":"success"}`)[:20], "read 22-byte reply body"},
		{"too large", huge, "exceeds the limit"},
		{"not json", frameOf(t, "<html>"), "reply is not JSON"},
		{"failed response", frameOf(t, `{"response":"failed","info":"cannot parse"}`), `server answered "failed": cannot parse`},
		{"no counts", frameOf(t, `{"response":"success","info":"ok"}`), "has no counts"},
		{"counts do not add up", frameOf(t, `{"response":"success","info":"processed: 5; failed: 0; total: 1; seconds spent: 0.1"}`), "does not add up"},
		{"closed without reply", nil, "read header: EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTrapper(t)
			f.answer = func(conn net.Conn, _ wireRequest) { conn.Write(tt.write) }
			s := &Sender{Addr: f.addr(), Timeout: 2 * time.Second, Retries: 3}
			_, err := s.Send(context.Background(), vals("h", "k"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrUncertain) {
				t.Fatalf("err = %v, want ErrUncertain", err)
			}
			if len(f.requests) != 1 {
				t.Fatalf("%d requests: a written request was resent", len(f.requests))
			}
		})
	}
}

func TestHangingServerObeysContext(t *testing.T) {
	f := newFakeTrapper(t)
	release := make(chan struct{})
	defer close(release)
	f.answer = func(net.Conn, wireRequest) { <-release }
	s := &Sender{Addr: f.addr(), Timeout: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err := s.Send(ctx, vals("h", "k"))
	if !errors.Is(err, ErrUncertain) {
		t.Fatalf("err = %v, want ErrUncertain after cancel", err)
	}
}

func TestConnectRetries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	s := &Sender{Addr: addr, Retries: 2, Backoff: time.Millisecond}
	_, err = s.Send(context.Background(), vals("h", "k"))
	if err == nil || errors.Is(err, ErrUncertain) || !strings.Contains(err.Error(), "connect:") {
		t.Fatalf("err = %v, want a connect error that is not ErrUncertain", err)
	}
}

func TestCompressedReply(t *testing.T) {
	body := []byte(`{"response":"success","info":"processed: 1; failed: 0; total: 1; seconds spent: 0.000001"}`)
	frame, err := encodeFrame(body, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readFrame(bytes.NewReader(frame), 1<<20)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("got %q, %v", got, err)
	}
	// A compressed frame whose stated size is a lie.
	binary.LittleEndian.PutUint32(frame[9:], uint32(len(body)+1))
	if _, err := readFrame(bytes.NewReader(frame), 1<<20); err == nil || !strings.Contains(err.Error(), "header says") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzReply: the server's reply is outside input.
func FuzzReply(f *testing.F) {
	ok, _ := encodeFrame([]byte(`{"response":"success","info":"processed: 1; failed: 0; total: 1; seconds spent: 0.000055"}`), false)
	z, _ := encodeFrame([]byte(`{"response":"success","info":"processed: 0; failed: 1; total: 1; seconds spent: 0.1"}`), true)
	f.Add(ok)
	f.Add(z)
	f.Add([]byte("ZBXD\x05\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		body, err := readFrame(bytes.NewReader(b), 1<<16)
		if err != nil {
			return
		}
		if len(body) > 1<<16 {
			t.Fatalf("accepted a %d-byte body over the limit", len(body))
		}
		r, err := parseReply(body)
		if err == nil && r.processed+r.failed != r.total {
			t.Fatalf("accepted inconsistent counts %+v", r)
		}
	})
}
