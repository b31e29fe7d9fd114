// Package dcs is the cooperative pool's view of etcd, its distributed configuration
// store in Patroni's sense: leases for membership, transactions for ownership claims
// and snapshot commits (shared/DESIGN.md, "pool"; issue 11).
//
// Key layout, all under /vcrcovery/<pool>/:
//
//	members/<host>              the host's Member record, bound to its session's lease
//	owners/<service>            the owning host's name, bound to the owner's lease
//	snapshots/<service>/<name>  a committed Snapshot record (no lease: it outlives hosts)
//
// Host, service, pool and snapshot names never contain "/", so a prefix of one service
// never matches another.
//
// A Session (Join) is one lease, kept alive with one keepalive every TTL/3 as Patroni's
// loop refreshes its lease once per loop_wait; a claim is one transaction on the owner
// key's CreateRevision, as etcd's client/v3/concurrency Election campaigns. The owner
// key holds the owner's lease, so an owner whose host dies loses it after the TTL,
// without anyone deleting it. A commit compares the owner key's value and lease in the
// same transaction that writes the record: a former owner can never commit.
//
// Every error that means "etcd did not answer" (no quorum, no endpoint, a deadline)
// wraps ErrUnreachable. While it is seen, the agent makes no takeovers and no demotions:
// owners keep serving (Patroni's failsafe lesson), since a quorum loss never expires a
// lease by itself (a new etcd leader renews every lease when it is elected).
package dcs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Defaults for Options.
const (
	// DefaultTTL is the lease TTL. With etcd's default 1 s election timeout the server
	// grants no lease shorter than 2 s (1.5 election timeouts, rounded up), and with
	// TTL 2 s a watcher sees a dead holder's keys go about 1.3-2 s after its last
	// keepalive, where 3 s took 2.3-3.4 s (shared/LAB-NOTES.md): only 2 s leaves room
	// for issue 11's goal of a client served again within 3 s of an owner's death.
	DefaultTTL = 2 * time.Second
	// DefaultDialTimeout bounds the first connection to the endpoints.
	DefaultDialTimeout = 2 * time.Second
	// DefaultKeep is how many committed snapshots per service are kept.
	DefaultKeep = 3
)

// maxKeep bounds Keep: the pruning deletes ride in the commit's transaction, which
// etcd limits to 128 operations by default (--max-txn-ops).
const maxKeep = 100

// Options configure a Client. Zero fields take the defaults above.
type Options struct {
	// Endpoints are the etcd client URLs, e.g. http://127.0.0.1:2379.
	Endpoints []string
	// CAFile, CertFile and KeyFile are PEM files for TLS to etcd: CAFile alone checks
	// the server, CertFile with KeyFile adds a client certificate. All empty: plain.
	CAFile, CertFile, KeyFile string
	// DialTimeout bounds the first connection.
	DialTimeout time.Duration
	// Pool names the pool: every key lives under /vcrcovery/<Pool>/.
	Pool string
	// TTL is the session lease's TTL, whole seconds (etcd leases count in seconds).
	TTL time.Duration
	// Keep is how many committed snapshots per service survive a commit.
	Keep int
	// Logger receives session state changes; nil discards them.
	Logger *slog.Logger
}

// Client is a connection to the pool's etcd cluster. It is safe for concurrent use.
type Client struct {
	etcd *clientv3.Client
	keys keys
	ttl  time.Duration
	keep int
	log  *slog.Logger
	// read are the options of every Get: none (linearizable) or WithSerializable.
	read []clientv3.OpOption
}

// Connect opens a client for opts.Pool. It does not wait for a quorum: the first
// request that needs one says whether etcd answers.
func Connect(ctx context.Context, opts Options) (*Client, error) {
	if err := checkName("pool", opts.Pool); err != nil {
		return nil, err
	}
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("connect to etcd: no endpoints")
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if opts.TTL < time.Second || opts.TTL%time.Second != 0 {
		return nil, fmt.Errorf("connect to etcd: lease TTL must be whole seconds, at least 1 s, got %v", opts.TTL)
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.Keep == 0 {
		opts.Keep = DefaultKeep
	}
	if opts.Keep < 1 || opts.Keep > maxKeep {
		return nil, fmt.Errorf("connect to etcd: snapshots kept must be 1-%d, got %d", maxKeep, opts.Keep)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	tc, err := tlsConfig(opts.CAFile, opts.CertFile, opts.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("connect to etcd: %w", err)
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   opts.Endpoints,
		DialTimeout: opts.DialTimeout,
		TLS:         tc,
		Context:     ctx,
		// The client's own zap warnings would bypass the one slog logger (STYLE.md);
		// every failure it sees reaches us as a returned error.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %s: %w", strings.Join(opts.Endpoints, ","), classify(err))
	}
	return &Client{etcd: c, keys: keys{root: "/vcrcovery/" + opts.Pool + "/"}, ttl: opts.TTL, keep: opts.Keep, log: opts.Logger}, nil
}

// Close closes the connection. Sessions of this client stop their keepalives without
// revoking their leases (which then expire after the TTL); Session.Close first to
// step down at once.
func (c *Client) Close() error { return c.etcd.Close() }

// Serializable returns a view of c whose reads (Owner, Latest, Snapshots, Members) are
// answered by whichever member is asked, from its local state, without a quorum: they
// still answer when etcd has lost its quorum, but may be stale. For plans and reports,
// never for a decision to take over.
func (c *Client) Serializable() *Client {
	s := *c
	s.read = []clientv3.OpOption{clientv3.WithSerializable()}
	return &s
}

// Prefix is the key prefix of the pool, /vcrcovery/<pool>/.
func (c *Client) Prefix() string { return c.keys.root }

// TTL is the lease TTL that Join asks for.
func (c *Client) TTL() time.Duration { return c.ttl }

// tlsConfig builds the TLS configuration from PEM files; nil when none are given.
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("TLS: a client certificate needs both its certificate and key files")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA %s: no PEM certificate in it", caFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// keys builds the pool's key names (the layout in the package comment).
type keys struct{ root string }

func (k keys) members() string             { return k.root + "members/" }
func (k keys) member(host string) string   { return k.members() + host }
func (k keys) owner(service string) string { return k.root + "owners/" + service }
func (k keys) snapshots(service string) string {
	return k.root + "snapshots/" + service + "/"
}
func (k keys) snapshot(service, name string) string { return k.snapshots(service) + name }

// checkName refuses names that would break the key layout.
func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%s name is empty", what)
	}
	if strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%s name %q contains / or NUL", what, name)
	}
	return nil
}
