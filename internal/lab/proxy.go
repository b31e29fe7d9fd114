package lab

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of the Zabbix trapper. Down closes its port (and cuts
// open connections), so a sender sees the trapper unreachable without the lab's server
// (shared with other tests) stopping. It records every value of a request that Zabbix
// answered "success", in the order Zabbix answered. It reads uncompressed frames only
// (a sender must not use zlib through it). LoseReplies and HoldRequests make it lose
// what crosses it, to put a sender where its requests' fate is unknown.
type Proxy struct {
	target string
	// Addr is the proxy's host:port, for the inventory's zabbix.server.
	Addr string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	values []Proxied
	frames int
	mode   proxyMode
	held   int
	after  func() // AfterReply's
}

type proxyMode int

const (
	relay        proxyMode = iota
	loseReplies            // forward requests, keep Zabbix's replies from the sender
	holdRequests           // read requests, forward none
)

// LoseReplies makes the proxy forward requests to Zabbix (which takes the values) and
// keep the replies: the sender waits until it gives up or is killed.
func (p *Proxy) LoseReplies() { p.setMode(loseReplies) }

// HoldRequests makes the proxy read requests and forward none.
func (p *Proxy) HoldRequests() { p.setMode(holdRequests) }

// Relay makes the proxy relay both ways again.
func (p *Proxy) Relay() { p.setMode(relay) }

func (p *Proxy) setMode(m proxyMode) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
}

// AfterReply makes the proxy call f right after it passes the next reply (the next
// request's that Zabbix answered "success") to the sender: a test can kill the sender
// there, between the trapper's acknowledgement and what the sender does with it.
func (p *Proxy) AfterReply(f func()) {
	p.mu.Lock()
	p.after = f
	p.mu.Unlock()
}

// Held returns how many requests the proxy kept from Zabbix (HoldRequests) or whose
// reply it kept from the sender (LoseReplies).
func (p *Proxy) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// swallow waits until the sender closes c (or its deadline), answering nothing.
func swallow(c net.Conn) { io.Copy(io.Discard, c) }

// Proxied is a value that reached Zabbix through the Proxy.
type Proxied struct {
	Host, Key, Value string
	Clock            int64     // the value's own clock (0: none given)
	At               time.Time // when the trapper's reply passed
}

// StartProxy starts a Proxy in front of target; it goes down when the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.Addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Down)
	return p
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns[c] = true
			p.mu.Unlock()
			go p.handle(c)
		}
	}()
}

// Down closes the port and every open connection.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// Up listens again on the same port.
func (p *Proxy) Up(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		t.Fatalf("proxy up again on %s: %v", p.Addr, err)
	}
	p.serve(ln)
}

// handle relays one sender connection: one request frame, one reply frame.
func (p *Proxy) handle(c net.Conn) {
	defer func() {
		c.Close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	req, err := readZBXD(c)
	if err != nil {
		return
	}
	p.mu.Lock()
	mode := p.mode
	if mode != relay {
		p.held++
	}
	p.mu.Unlock()
	if mode == holdRequests {
		swallow(c)
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	up.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := up.Write(req.raw); err != nil {
		return
	}
	reply, err := readZBXD(up)
	if err != nil {
		return
	}
	var body struct {
		Data []struct {
			Host  string `json:"host"`
			Key   string `json:"key"`
			Value string `json:"value"`
			Clock int64  `json:"clock"`
		} `json:"data"`
	}
	var ans struct {
		Response string `json:"response"`
	}
	json.Unmarshal(req.body, &body)
	json.Unmarshal(reply.body, &ans)
	now := time.Now()
	var after func()
	p.mu.Lock()
	p.frames++
	if ans.Response == "success" {
		for _, d := range body.Data {
			p.values = append(p.values, Proxied{d.Host, d.Key, d.Value, d.Clock, now})
		}
		after, p.after = p.after, nil
	}
	p.mu.Unlock()
	if mode == loseReplies {
		swallow(c)
		return
	}
	c.Write(reply.raw)
	if after != nil {
		after()
	}
}

// ForwardedValues is the Value of each of Forwarded's values, in order.
func (p *Proxy) ForwardedValues(host, key string) []string {
	var out []string
	for _, v := range p.Forwarded(host, key) {
		out = append(out, v.Value)
	}
	return out
}

// Forwarded returns the values that reached Zabbix for host and key, in order.
func (p *Proxy) Forwarded(host, key string) []Proxied {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Proxied
	for _, v := range p.values {
		if v.Host == host && v.Key == key {
			out = append(out, v)
		}
	}
	return out
}

type frame struct{ raw, body []byte }

// Frames returns how many requests Zabbix answered through the proxy.
func (p *Proxy) Frames() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frames
}

// readZBXD reads one uncompressed Zabbix protocol frame.
func readZBXD(r io.Reader) (frame, error) {
	h := make([]byte, 13)
	if _, err := io.ReadFull(r, h); err != nil {
		return frame{}, err
	}
	if string(h[:4]) != "ZBXD" || h[4]&0x06 != 0 {
		return frame{}, fmt.Errorf("unexpected frame header % x", h)
	}
	n := binary.LittleEndian.Uint32(h[5:9])
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return frame{}, err
	}
	return frame{raw: append(h, body...), body: body}, nil
}
