package dnsupdate

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Errors callers branch on.
var (
	// ErrLostRace: the name no longer held the expected address when the update arrived
	// (RFC 2136 prerequisite failed, NXRRSET): another recoverer switched it first.
	ErrLostRace = errors.New("the name no longer points at the expected address")
	// ErrRefused: the server refused the update (REFUSED, NOTAUTH: key or policy).
	ErrRefused = errors.New("update refused by the DNS server")
)

// Client sends signed updates to one zone's primary server.
type Client struct {
	// Server is the authoritative primary, host:port.
	Server string
	// Zone is the zone of the names, as an FQDN ("example.com.").
	Zone string
	// Key signs the updates of every name that has no key of its own in Keys.
	Key Key
	// Keys are the names' own keys, by canonical name: a service that has its own key
	// signs its name's updates with it, so that a server policy granting each key its
	// own name only keeps one service's key from rewriting another's name.
	Keys map[string]Key
	// TTL of the records written, in seconds.
	TTL uint32
	// Timeout bounds one exchange; ctx may shorten it. Default 2s.
	Timeout time.Duration
	// Net is "udp" (default) or "tcp".
	Net string
}

// KeyFor is the key that signs name's updates: its own, else the shared one.
func (c *Client) KeyFor(name string) Key {
	if k, ok := c.Keys[dns.CanonicalName(name)]; ok {
		return k
	}
	return c.Key
}

func (c *Client) client(key Key) *dns.Client {
	t := c.Timeout
	if t <= 0 {
		t = 2 * time.Second
	}
	return &dns.Client{
		Net:        c.Net,
		Timeout:    t,
		TsigSecret: map[string]string{key.Name: key.Secret.Reveal()},
	}
}

func a(name string, ttl uint32, ip netip.Addr) *dns.A {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: ip.AsSlice()}
}

// Switch points name at to, but only if it points at from now: one UPDATE whose
// prerequisite is "RRset exists (value dependent)" (RFC 2136 2.4.2) for from, and whose
// update section deletes from and adds to. The server applies it atomically, so of
// several concurrent switches from the same address exactly one succeeds; the others get
// ErrLostRace and change nothing.
func (c *Client) Switch(ctx context.Context, name string, from, to netip.Addr) error {
	name = dns.CanonicalName(name)
	m := new(dns.Msg)
	m.SetUpdate(c.Zone)
	m.Used([]dns.RR{a(name, 0, from)})
	m.Remove([]dns.RR{a(name, 0, from)})
	m.Insert([]dns.RR{a(name, c.TTL, to)})
	return c.exchange(ctx, m, name, fmt.Sprintf("update %s %s -> %s", name, from, to))
}

// exchange signs one UPDATE of name with the name's key, sends it and maps the answer
// to the errors above.
func (c *Client) exchange(ctx context.Context, m *dns.Msg, name, what string) error {
	key := c.KeyFor(name)
	m.SetTsig(key.Name, key.Algorithm, 300, time.Now().Unix())
	r, _, err := c.client(key).ExchangeContext(ctx, m, c.Server)
	if err != nil {
		return fmt.Errorf("%s at %s: %w", what, c.Server, err)
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
		return nil
	case dns.RcodeNXRrset, dns.RcodeYXRrset:
		return fmt.Errorf("%s: %w", what, ErrLostRace)
	case dns.RcodeRefused, dns.RcodeNotAuth:
		// The key's name says which policy refused: a service's own key may only write
		// its own name (BIND update-policy), the shared one whatever the zone allows.
		return fmt.Errorf("%s at %s signed with key %s: %w (%s)", what, c.Server, key.Name, ErrRefused, dns.RcodeToString[r.Rcode])
	default:
		return fmt.Errorf("%s at %s: server answered %s", what, c.Server, dns.RcodeToString[r.Rcode])
	}
}

// Create points name at to, but only if name has no A record yet (prerequisite "RRset
// does not exist", RFC 2136 2.4.3): the first owner of a pooled service publishes its
// name this way, and of several concurrent creators exactly one succeeds; the others
// get ErrLostRace and change nothing.
func (c *Client) Create(ctx context.Context, name string, to netip.Addr) error {
	name = dns.CanonicalName(name)
	m := new(dns.Msg)
	m.SetUpdate(c.Zone)
	m.RRsetNotUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET}}})
	m.Insert([]dns.RR{a(name, c.TTL, to)})
	return c.exchange(ctx, m, name, fmt.Sprintf("create %s -> %s", name, to))
}

// Lookup asks the authoritative server (not a cache) for name's A records.
func (c *Client) Lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	name = dns.CanonicalName(name)
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.RecursionDesired = false
	cl := c.client(Key{})
	cl.TsigSecret = nil
	r, _, err := cl.ExchangeContext(ctx, m, c.Server)
	if err != nil {
		return nil, fmt.Errorf("look up %s at %s: %w", name, c.Server, err)
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("look up %s at %s: server answered %s", name, c.Server, dns.RcodeToString[r.Rcode])
	}
	var out []netip.Addr
	for _, rr := range r.Answer {
		if rec, ok := rr.(*dns.A); ok && dns.CanonicalName(rec.Hdr.Name) == name {
			if ip, ok := netip.AddrFromSlice(rec.A.To4()); ok {
				out = append(out, ip)
			}
		}
	}
	return out, nil
}
