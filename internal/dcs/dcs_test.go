package dcs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestUnreachable: every form in which etcd "did not answer" is classified, whatever
// the wrapping; refusals and the caller's own cancellation are not.
func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"context deadline", context.DeadlineExceeded, true},
		{"wrapped deadline", fmt.Errorf("txn: %w", context.DeadlineExceeded), true},
		// shared/LAB-NOTES.md: the 3.4 server's form with two members of three down.
		{"3.4 server deadline as Unknown", status.Error(codes.Unknown, "context deadline exceeded"), true},
		{"3.4 server deadline wrapped", fmt.Errorf("put: %w", status.Error(codes.Unknown, "context deadline exceeded")), true},
		{"grpc Unavailable", status.Error(codes.Unavailable, "connection refused"), true},
		{"grpc DeadlineExceeded", status.Error(codes.DeadlineExceeded, "etcdserver: context deadline exceeded"), true},
		{"no leader", rpctypes.ErrNoLeader, true},
		{"request timed out", rpctypes.ErrTimeout, true},
		{"leader changed", rpctypes.ErrLeaderChanged, true},
		{"no leader as the client returns it", rpctypes.Error(rpctypes.ErrGRPCNoLeader), true},
		{"no endpoints", clientv3.ErrNoAvailableEndpoints, true},
		{"other Unknown", status.Error(codes.Unknown, "something else"), false},
		{"lease not found", rpctypes.ErrLeaseNotFound, false},
		{"compacted", rpctypes.ErrCompacted, false},
		{"permission denied", rpctypes.ErrPermissionDenied, false},
		{"caller cancelled", context.Canceled, false},
		{"grpc Canceled", status.Error(codes.Canceled, "context canceled"), false},
		{"plain", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(tc.err)
			if got := errors.Is(err, ErrUnreachable); got != tc.want {
				t.Errorf("errors.Is(classify(%v), ErrUnreachable) = %v, want %v", tc.err, got, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("classify(%v) = %v: the original error is lost", tc.err, err)
			}
			if tc.want && classify(err) != err {
				t.Errorf("classify is not idempotent: %v", classify(err))
			}
		})
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

// TestKeys: the layout in the package comment.
func TestKeys(t *testing.T) {
	k := keys{root: "/vcrcovery/p1/"}
	got := []string{k.member("a"), k.members(), k.owner("web1"), k.snapshot("web1", "s1"), k.snapshots("web1")}
	want := []string{"/vcrcovery/p1/members/a", "/vcrcovery/p1/members/", "/vcrcovery/p1/owners/web1", "/vcrcovery/p1/snapshots/web1/s1", "/vcrcovery/p1/snapshots/web1/"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("keys (-want +got):\n%s", d)
	}
	// A service's snapshot prefix never covers another service's records.
	if strings.HasPrefix(k.snapshot("web10", "s1"), k.snapshots("web1")) {
		t.Error("snapshots/web1/ covers web10's records")
	}
}

// TestConnectRefuses: options that would break the layout or the lease are refused
// before any connection.
func TestConnectRefuses(t *testing.T) {
	ep := []string{"http://127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no pool", Options{Endpoints: ep}, "pool name is empty"},
		{"slash in pool", Options{Endpoints: ep, Pool: "a/b"}, `pool name "a/b" contains /`},
		{"no endpoints", Options{Pool: "p"}, "no endpoints"},
		{"fractional TTL", Options{Endpoints: ep, Pool: "p", TTL: 1500 * time.Millisecond}, "whole seconds"},
		{"keep 0 after default is fine, negative is not", Options{Endpoints: ep, Pool: "p", Keep: -1}, "snapshots kept must be 1-100, got -1"},
		{"cert without key", Options{Endpoints: ep, Pool: "p", CertFile: "c.pem"}, "needs both"},
		{"missing CA", Options{Endpoints: ep, Pool: "p", CAFile: "testdata/none.pem"}, "TLS CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Connect(context.Background(), tc.opts)
			if err == nil {
				c.Close()
				t.Fatalf("Connect(%+v) = nil error, want %q", tc.opts, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Connect: %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestDiff: joins and leaves between two views; the first view has neither.
func TestDiff(t *testing.T) {
	set := func(hosts ...string) Members {
		m := Members{Live: map[string]Member{}}
		for _, h := range hosts {
			m.Live[h] = Member{Host: h}
		}
		return m
	}
	for _, tc := range []struct {
		name         string
		prev, cur    Members
		joined, left []string
	}{
		{"first view", Members{}, set("a", "b"), nil, nil},
		{"join", set("a"), set("a", "c", "b"), []string{"b", "c"}, nil},
		{"leave", set("a", "b", "c"), set("b"), nil, []string{"a", "c"}},
		{"both", set("a", "b"), set("b", "c"), []string{"c"}, []string{"a"}},
		{"all gone", set("a"), set(), nil, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := diff(tc.prev, tc.cur)
			if d := cmp.Diff([][]string{tc.joined, tc.left}, [][]string{ch.Joined, ch.Left}); d != "" {
				t.Errorf("joined, left (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.cur.Hosts(), ch.Hosts()); d != "" {
				t.Errorf("live (-want +got):\n%s", d)
			}
		})
	}
}
