package lab

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
)

// lookupA asks the lab's BIND for name's A records, straight from the authoritative server.
func lookupA(t *testing.T, server, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r, _, err := new(dns.Client).ExchangeContext(ctx, m, server)
	if err != nil {
		Missing(t, "bind", err)
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

func update(t *testing.T, server string, m *dns.Msg, key *dnsupdate.Key) int {
	t.Helper()
	c := &dns.Client{Net: "tcp"}
	if key != nil {
		c.TsigSecret = map[string]string{key.Name: key.Secret.Reveal()}
		m.SetTsig(key.Name, key.Algorithm, 300, time.Now().Unix())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		t.Fatalf("update via %s: %v", server, err)
	}
	return r.Rcode
}

// TestBINDSignedUpdate: a TSIG-signed RFC 2136 update changes an A record, an unsigned
// one and one signed with a wrong secret are refused and change nothing.
func TestBINDSignedUpdate(t *testing.T) {
	server, zone := Need(t, "DNS"), Need(t, "DNS_ZONE")
	key, err := dnsupdate.ReadKeyFile(Need(t, "TSIG_KEY_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("smoke-%d.%s", time.Now().UnixNano(), zone)
	rr := func(ip string) dns.RR {
		return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 2}, A: net.ParseIP(ip)}
	}
	t.Cleanup(func() {
		m := new(dns.Msg)
		m.SetUpdate(zone)
		m.RemoveName([]dns.RR{rr("192.0.2.1")})
		update(t, server, m, &key)
	})

	m := new(dns.Msg)
	m.SetUpdate(zone)
	m.Insert([]dns.RR{rr("192.0.2.1")})
	if rc := update(t, server, m, &key); rc != dns.RcodeSuccess {
		t.Fatalf("signed update: rcode %s", dns.RcodeToString[rc])
	}
	if got := lookupA(t, server, name); len(got) != 1 || got[0] != "192.0.2.1" {
		t.Fatalf("after signed update: A = %v, want [192.0.2.1]", got)
	}

	m = new(dns.Msg)
	m.SetUpdate(zone)
	m.RemoveRRset([]dns.RR{rr("192.0.2.1")})
	m.Insert([]dns.RR{rr("192.0.2.66")})
	if rc := update(t, server, m, nil); rc != dns.RcodeRefused {
		t.Fatalf("unsigned update: rcode %s, want REFUSED", dns.RcodeToString[rc])
	}
	wrong := key
	wrong.Secret = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="
	m = new(dns.Msg)
	m.SetUpdate(zone)
	m.Insert([]dns.RR{rr("192.0.2.67")})
	c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{wrong.Name: wrong.Secret.Reveal()}}
	m.SetTsig(wrong.Name, wrong.Algorithm, 300, time.Now().Unix())
	// BIND answers NOTAUTH with an unsigned TSIG error; the client reports it as an error.
	if r, _, err := c.Exchange(m, server); err == nil && r.Rcode == dns.RcodeSuccess {
		t.Fatal("update signed with a wrong secret was accepted")
	}
	if got := lookupA(t, server, name); len(got) != 1 || got[0] != "192.0.2.1" {
		t.Fatalf("after refused updates: A = %v, want [192.0.2.1] unchanged", got)
	}
}
