package dnsupdate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
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
	if r, _, err := c.client(c.Key).Exchange(m, c.Server); err != nil || r.Rcode != dns.RcodeSuccess {
		lab.Missing(t, "bind", fmt.Errorf("create %s: %v %v", name, r, err))
	}
	t.Cleanup(func() { removeName(c, name, ip) })
	return name
}

// removeName deletes every record of name, signed with the shared key.
func removeName(c *Client, name string, ip netip.Addr) {
	m := new(dns.Msg)
	m.SetUpdate(c.Zone)
	m.RemoveName([]dns.RR{a(name, 0, ip)})
	m.SetTsig(c.Key.Name, c.Key.Algorithm, 300, time.Now().Unix())
	c.client(c.Key).Exchange(m, c.Server)
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
	t.Cleanup(func() { removeName(c, fresh, standby) })
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

// TestLabServiceKeys: the lab's BIND grants each service's own key its own name only
// (update-policy) and the shared key the whole zone. web1's key switches web1's name
// but is refused on web2's, naming the key, with web2's name unchanged; the shared key
// still switches web2's. Each switch is undone.
func TestLabServiceKeys(t *testing.T) {
	shared := labClient(t)
	web1Key, err := ReadKeyFile(lab.Need(t, "TSIG_KEY_FILE_WEB1"))
	if err != nil {
		t.Fatal(err)
	}
	// One client as the inventory builds it: web1 has its own key, web2 none.
	own := *shared
	own.Keys = map[string]Key{"web1." + shared.Zone: web1Key}
	// web1's key used for web2: what a mistaken tsig_key_file would do.
	stolen := *shared
	stolen.Keys = map[string]Key{"web2." + shared.Zone: web1Key}
	ctx := context.Background()
	to := netip.MustParseAddr("192.0.2.99")
	tests := []struct {
		name    string
		c       *Client
		dnsName string
		refused bool
	}{
		{"web1's key on web1", &own, "web1." + shared.Zone, false},
		{"web1's key on web2", &stolen, "web2." + shared.Zone, true},
		{"shared key on web2", &own, "web2." + shared.Zone, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			was, err := shared.Lookup(ctx, tc.dnsName)
			if err != nil || len(was) != 1 {
				lab.Missing(t, "bind", fmt.Errorf("%s: %v %v", tc.dnsName, was, err))
			}
			err = tc.c.Switch(ctx, tc.dnsName, was[0], to)
			if err == nil {
				t.Cleanup(func() {
					if err := shared.Switch(ctx, tc.dnsName, to, was[0]); err != nil {
						t.Errorf("undo: %v", err)
					}
				})
			}
			want := was[0]
			if !tc.refused {
				want = to
				if err != nil {
					t.Fatalf("switch: %v", err)
				}
			} else if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "key web1-key.") {
				t.Fatalf("switch: err = %v, want ErrRefused naming key web1-key.", err)
			}
			if got, err := shared.Lookup(ctx, tc.dnsName); err != nil || len(got) != 1 || got[0] != want {
				t.Fatalf("%s -> %v (%v), want %s", tc.dnsName, got, err, want)
			}
		})
	}
}
