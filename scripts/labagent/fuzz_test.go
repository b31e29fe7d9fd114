package main

import (
	"context"
	"strings"
	"testing"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib/guesttable"
)

// FuzzPassPersist feeds arbitrary commands to the protocol: it must answer without
// panicking, one answer per command, each OID answered inside the table.
func FuzzPassPersist(f *testing.F) {
	f.Add("PING\nget\n" + col + "2" + idxA + "\n")
	f.Add("getnext\n.1.3.6.1.4.1.36957.1.1\nset\n.1\ninteger 1\n")
	f.Add("getnext\n.4294967296\n")
	tab := guesttable.New(fakeGuests)
	f.Fuzz(func(t *testing.T, in string) {
		var out strings.Builder
		err := servePassPersist(context.Background(), discard(), func(context.Context) *guesttable.Table { return tab },
			strings.NewReader(in), &out)
		if err != nil {
			return
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(line, ".") && !strings.HasPrefix(line, col) {
				t.Fatalf("answered an OID outside the table: %q", line)
			}
		}
	})
}

// FuzzParseEvent checks that any line parses or is rejected without panicking, and that
// a parsed event names a domain and a type.
func FuzzParseEvent(f *testing.F) {
	f.Add("2026-11-22 02:56:52.252+0000: event 'lifecycle' for domain 'web2': Stopped Destroyed")
	f.Add(": event 'lifecycle' for domain '': ")
	f.Fuzz(func(t *testing.T, line string) {
		e, ok := parseEvent(line)
		if ok && (e.Domain == "" || e.Type == "") {
			t.Fatalf("parseEvent(%q) = %+v, ok", line, e)
		}
	})
}
