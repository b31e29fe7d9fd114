package probe

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listen starts a real TCP server on loopback that runs handle for each connection.
func listen(t *testing.T, handle func(net.Conn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}

var lo = netip.MustParseAddr("127.0.0.1")

func TestWait(t *testing.T) {
	echo := func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Write([]byte("+" + strings.ToUpper(line)))
	}
	banner := func(c net.Conn) { c.Write([]byte("220 ready\r\n")) }
	silent := func(c net.Conn) { time.Sleep(2 * time.Second) }
	flood := func(c net.Conn) {
		b := []byte(strings.Repeat("x", 4096))
		for {
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	}
	tests := []struct {
		name    string
		probe   TCP
		wantErr string
	}{
		{"open port", TCP{Ports: []int{listen(t, func(net.Conn) {})}}, ""},
		{"two ports", TCP{Ports: []int{listen(t, func(net.Conn) {}), listen(t, func(net.Conn) {})}}, ""},
		{"send and expect", TCP{Ports: []int{listen(t, echo)}, Send: "ping\n", Expect: "+PING"}, ""},
		{"banner", TCP{Ports: []int{listen(t, banner)}, Expect: "220"}, ""},
		{"closed", TCP{Ports: []int{closedPort(t)}}, "connection refused"},
		{"second port closed", TCP{Ports: []int{listen(t, func(net.Conn) {}), closedPort(t)}}, "connection refused"},
		{"wrong reply", TCP{Ports: []int{listen(t, echo)}, Send: "ping\n", Expect: "PONG"}, `no "PONG" in the reply`},
		{"silent peer", TCP{Ports: []int{listen(t, silent)}, Expect: "x", Attempt: 50 * time.Millisecond}, "i/o timeout"},
		{"endless reply", TCP{Ports: []int{listen(t, flood)}, Expect: "never"}, "reply too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			res, err := tt.probe.Wait(ctx, lo)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want ErrTimeout with %q", err, tt.wantErr)
			}
			if res.Attempts < 1 {
				t.Fatalf("attempts = %d", res.Attempts)
			}
		})
	}
}

// TestWaitForLateService: the port opens while the probe is waiting, as a container's
// does a few hundred milliseconds after it starts.
func TestWaitForLateService(t *testing.T) {
	port := closedPort(t)
	go func() {
		time.Sleep(100 * time.Millisecond)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return
		}
		t.Cleanup(func() { ln.Close() })
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := (&TCP{Ports: []int{port}}).Wait(ctx, lo)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts < 2 {
		t.Fatalf("attempts = %d, want the port to have been closed at first", res.Attempts)
	}
}
