package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
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

// TestBINDUpReconfigures: `scripts/lab up bind` leaves a named that runs the current
// configuration alone (same PID), and restarts one started from another configuration
// (stood in for by an edited named.conf, as an older lab left it), after which a
// service's own key again writes its name.
func TestBINDUpReconfigures(t *testing.T) {
	server, zone := Need(t, "DNS"), Need(t, "DNS_ZONE")
	web1Key, err := dnsupdate.ReadKeyFile(Need(t, "TSIG_KEY_FILE_WEB1"))
	if err != nil {
		t.Fatal(err)
	}
	labDir := filepath.Dir(filepath.Dir(Need(t, "TSIG_KEY_FILE")))
	pidFile, conf := filepath.Join(labDir, "run", "named.pid"), filepath.Join(labDir, "bind", "named.conf")
	pid := func() string {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			Missing(t, "bind", err)
		}
		return strings.TrimSpace(string(b))
	}
	up := func() { Run(t, 2*time.Minute, Root(t)+"/scripts/lab", "up", "bind") }

	before := pid()
	up()
	if got := pid(); got != before {
		t.Fatalf("up restarted a named with the current configuration: pid %s -> %s", before, got)
	}
	cur, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, append([]byte("# an older lab's configuration\n"), cur...), 0o644); err != nil {
		t.Fatal(err)
	}
	up()
	if got := pid(); got == before {
		t.Fatalf("up kept named (pid %s) although its configuration is not the current one", got)
	}
	if now, _ := os.ReadFile(conf); string(now) != string(cur) {
		t.Fatalf("named.conf after up:\n%s\nwant:\n%s", now, cur)
	}
	c := &dnsupdate.Client{Server: server, Zone: zone, Key: web1Key, TTL: 2}
	name := "web1." + zone
	was := lookupA(t, server, name)
	if len(was) != 1 {
		t.Fatalf("%s -> %v after the restart", name, was)
	}
	from, to := netip.MustParseAddr(was[0]), netip.MustParseAddr("192.0.2.98")
	if err := c.Switch(context.Background(), name, from, to); err != nil {
		t.Fatalf("web1's key after the restart: %v", err)
	}
	if err := c.Switch(context.Background(), name, to, from); err != nil {
		t.Fatalf("web1's key, switching back: %v", err)
	}
}
