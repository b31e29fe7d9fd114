package dnsupdate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/vcrcovery/vcrcovery/internal/lab"
)

func labClient(t *testing.T) *Client {
	t.Helper()
	key, err := ReadKeyFile(lab.Need(t, "TSIG_KEY_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	return &Client{Server: lab.Need(t, "DNS"), Zone: lab.Need(t, "DNS_ZONE"), Key: key, TTL: 2}
}

// labName creates a fresh name pointing at ip and removes it after the test.
func labName(t *testing.T, c *Client, ip netip.Addr) string {
	t.Helper()
	name := fmt.Sprintf("cas-%d.%s", time.Now().UnixNano(), c.Zone)
	m := new(dns.Msg)
	m.SetUpdate(c.Zone)
	m.Insert([]dns.RR{a(name, 2, ip)})
	m.SetTsig(c.Key.Name, c.Key.Algorithm, 300, time.Now().Unix())
	if r, _, err := c.client().Exchange(m, c.Server); err != nil || r.Rcode != dns.RcodeSuccess {
		lab.Missing(t, "bind", fmt.Errorf("create %s: %v %v", name, r, err))
	}
	t.Cleanup(func() {
		m := new(dns.Msg)
		m.SetUpdate(c.Zone)
		m.RemoveName([]dns.RR{a(name, 0, ip)})
		m.SetTsig(c.Key.Name, c.Key.Algorithm, 300, time.Now().Unix())
		c.client().Exchange(m, c.Server)
	})
	return name
}

var (
	primary = netip.MustParseAddr("192.0.2.10")
	standby = netip.MustParseAddr("192.0.2.20")
)

func TestLabSwitchAndLookup(t *testing.T) {
	c := labClient(t)
	ctx := context.Background()
	name := labName(t, c, primary)
	if err := c.Switch(ctx, name, primary, standby); err != nil {
		t.Fatal(err)
	}
	got, err := c.Lookup(ctx, name)
	if err != nil || len(got) != 1 || got[0] != standby {
		t.Fatalf("after switch: %v, %v", got, err)
	}
	// The same switch again: the name no longer holds the primary address.
	if err := c.Switch(ctx, name, primary, standby); !errors.Is(err, ErrLostRace) {
		t.Fatalf("repeated switch: err = %v, want ErrLostRace", err)
	}
	// Failback.
	if err := c.Switch(ctx, name, standby, primary); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Lookup(ctx, name); len(got) != 1 || got[0] != primary {
		t.Fatalf("after failback: %v", got)
	}
}

// TestLabExactlyOneWinner: 8 concurrent switches from the primary address, each to its
// own address: exactly one succeeds, the others lose the race, and the name ends at the
// winner's address only. Repeated to catch an unlucky interleaving.
func TestLabExactlyOneWinner(t *testing.T) {
	c := labClient(t)
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		name := labName(t, c, primary)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.Switch(ctx, name, primary, netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + i)}))
			}()
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: two winners, %d and %d", round, winner, i)
				}
				winner = i
			case !errors.Is(err, ErrLostRace):
				t.Fatalf("round %d: switcher %d: %v", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no winner: %v", round, errs)
		}
		got, err := c.Lookup(ctx, name)
		want := netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + winner)})
		if err != nil || len(got) != 1 || got[0] != want {
			t.Fatalf("round %d: name holds %v (%v), want only %v", round, got, err, want)
		}
	}
}

func TestLabWrongKeyRefused(t *testing.T) {
	c := labClient(t)
	name := labName(t, c, primary)
	bad := *c
	bad.Key.Secret = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="
	err := bad.Switch(context.Background(), name, primary, standby)
	if err == nil {
		t.Fatal("a switch signed with a wrong secret succeeded")
	}
	if got, _ := c.Lookup(context.Background(), name); len(got) != 1 || got[0] != primary {
		t.Fatalf("name changed to %v", got)
	}
}

// TestServerDownOrSilent: no server, or one that reads and never answers, gives an error
// within the deadline (unit test: needs no lab).
func TestServerDownOrSilent(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	key, _ := ParseKeyFile([]byte(goodKey))
	c := &Client{Server: pc.LocalAddr().String(), Zone: "example.", Key: key, TTL: 5, Timeout: 200 * time.Millisecond}
	err = c.Switch(context.Background(), "www.example.", primary, standby)
	if err == nil || errors.Is(err, ErrLostRace) {
		t.Fatalf("silent server: err = %v", err)
	}
	if _, err := c.Lookup(context.Background(), "www.example."); err == nil {
		t.Fatal("silent server: lookup succeeded")
	}
}

// TestLabCreate: Create publishes a name that has no address, and only then: of two
// racing creators one wins, the other gets ErrLostRace and changes nothing.
func TestLabCreate(t *testing.T) {
	c := labClient(t)
	ctx := context.Background()
	name := labName(t, c, primary)
	if err := c.Create(ctx, name, standby); !errors.Is(err, ErrLostRace) {
		t.Fatalf("Create over an existing address: %v, want ErrLostRace", err)
	}
	fresh := "new-" + name
	t.Cleanup(func() {
		m := new(dns.Msg)
		m.SetUpdate(c.Zone)
		m.RemoveName([]dns.RR{a(fresh, 0, standby)})
		m.SetTsig(c.Key.Name, c.Key.Algorithm, 300, time.Now().Unix())
		c.client().Exchange(m, c.Server)
	})
	errs := make(chan error, 2)
	for _, ip := range []netip.Addr{primary, standby} {
		go func() { errs <- c.Create(ctx, fresh, ip) }()
	}
	won := 0
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			won++
		case !errors.Is(err, ErrLostRace):
			t.Errorf("racing Create: %v", err)
		}
	}
	got, err := c.Lookup(ctx, fresh)
	if won != 1 || err != nil || len(got) != 1 {
		t.Errorf("%d creators won; %s -> %v (%v), want one address", won, fresh, got, err)
	}
}
