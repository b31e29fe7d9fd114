package pool

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/dcs"
	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
)

// The agent's peers, as narrow as its decisions need them: the real ones are
// *dcs.Client, *dcs.Session, *container.Server and *dnsupdate.Client (asserted below);
// the unit tests replace them with fakes that record every call, so that each rule of
// the package comment is checked without etcd or LXD. The service probe stays real (a
// TCP connect, which a test can serve on the loopback).

// Store is what the agent reads of the pool's etcd state (dcs.Client).
type Store interface {
	// TTL is the lease TTL the client asks for.
	TTL() time.Duration
	Owner(ctx context.Context, service string) (dcs.Owner, error)
	Members(ctx context.Context) (dcs.Members, error)
	Latest(ctx context.Context, service string) (dcs.Snapshot, bool, error)
	Snapshots(ctx context.Context, service string) ([]dcs.Snapshot, error)
}

// Session is this host's membership, through which it claims and commits (dcs.Session).
type Session interface {
	TTL() time.Duration
	// Done is closed and Err set when the lease is gone or the session closed.
	Done() <-chan struct{}
	Err() error
	Owns(o dcs.Owner) bool
	Claim(ctx context.Context, service string) (bool, dcs.Owner, error)
	Transfer(ctx context.Context, service string, seen dcs.Owner) (bool, dcs.Owner, error)
	Commit(ctx context.Context, service string, snap dcs.Snapshot) (dcs.Snapshot, error)
	Release(ctx context.Context, service string) error
	Close(ctx context.Context) error
}

// Server is what the agent does to a pool host's LXD server (container.Server), but
// the server-to-server copy: see copyContainer.
type Server interface {
	Exists(ctx context.Context, name string) (bool, error)
	// Live: the container runs or is frozen (a snapshot on a dir pool freezes it, and
	// it serves again after); every rule about a copy that runs means this.
	Live(ctx context.Context, name string) (bool, error)
	Ensure(ctx context.Context, spec container.Spec) (container.Outcome, error)
	Stop(ctx context.Context, name string) error
	StopGraceful(ctx context.Context, name string, timeout time.Duration) (forced bool, err error)
	Delete(ctx context.Context, name string) error
	WaitIPv4(ctx context.Context, name, iface string) (netip.Addr, error)
	Snapshot(ctx context.Context, name, snap string) error
	Snapshots(ctx context.Context, name string) ([]string, error)
	DeleteSnapshot(ctx context.Context, name, snap string) error
	Restore(ctx context.Context, name, snap string) error
	// Inspect gives the owned container's own devices (a copy carries them) and LXD's
	// figure of its disk usage; DuUsage measures it from inside where LXD has none.
	Inspect(ctx context.Context, name string) (container.Info, error)
	DuUsage(ctx context.Context, name string) (int64, error)
	// ManagedNetwork tells whether a NIC device of a copy may name that network there.
	ManagedNetwork(ctx context.Context, name string) (bool, error)
}

// Names is the service names' DNS (dnsupdate.Client): read, create, compare-and-set.
type Names interface {
	Lookup(ctx context.Context, name string) ([]netip.Addr, error)
	Create(ctx context.Context, name string, to netip.Addr) error
	Switch(ctx context.Context, name string, from, to netip.Addr) error
}

var (
	_ Store   = (*dcs.Client)(nil)
	_ Session = (*dcs.Session)(nil)
	_ Server  = (*container.Server)(nil)
	_ Names   = (*dnsupdate.Client)(nil)
)

// peers are the agent's seams; wire fills the unset ones with the real peers.
type peers struct {
	store Store
	// join starts this host's session (dcs.Client.Join).
	join func(ctx context.Context, host string) (Session, error)
	// dial opens a pool host's LXD server (container.Connect).
	dial func(ctx context.Context, h config.Standby) (Server, error)
	// copy copies (or refreshes) container name from src onto dst (copyContainer).
	copy  func(ctx context.Context, dst, src Server, name string, o container.CopyOptions) error
	names Names
	now   func() time.Time
}

// wire sets the peers the tests did not set from DCS and DNS.
func (a *Agent) wire() {
	if a.store == nil {
		a.store = a.DCS
	}
	if a.join == nil {
		a.join = func(ctx context.Context, host string) (Session, error) {
			s, err := a.DCS.Join(ctx, host)
			if err != nil {
				return nil, err // not a nil *dcs.Session in a non-nil Session
			}
			return s, nil
		}
	}
	if a.dial == nil {
		a.dial = func(ctx context.Context, h config.Standby) (Server, error) {
			s, err := container.Connect(ctx, h)
			if err != nil {
				return nil, err
			}
			return s, nil
		}
	}
	if a.copy == nil {
		a.copy = copyContainer
	}
	if a.names == nil && a.DNS != nil {
		a.names = a.DNS
	}
	if a.now == nil {
		a.now = time.Now
	}
}

// copyContainer is container.Server.CopyFrom: LXD copies server to server, so both
// ends must be real servers, which dial gives outside the tests.
func copyContainer(ctx context.Context, dst, src Server, name string, o container.CopyOptions) error {
	d, dok := dst.(*container.Server)
	s, sok := src.(*container.Server)
	if !dok || !sok {
		return fmt.Errorf("copy container %s: %T to %T: not LXD servers", name, src, dst)
	}
	return d.CopyFrom(ctx, s, name, o)
}
