// Package container manages standby containers on an LXD server (the standby VM, or the
// bigger VM of a migration) through LXD's REST API.
package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/secret"
)

// ErrMissing: a warm standby's container does not exist and there is no backup to
// create it from.
var ErrMissing = errors.New("container does not exist")

// ErrConfig: Connect failed on the standby's entry itself (its URL, or a certificate
// or key file that cannot be read), not on the LXD server. A recover run exits 2 for
// it, and 4 for a server that cannot be reached.
var ErrConfig = errors.New("standby configuration unusable")

// ErrUntrusted: the LXD server does not trust the client certificate (not added with
// `lxc config trust add`, or removed since).
var ErrUntrusted = errors.New("the server does not trust the client certificate")

// configError marks err as ErrConfig and keeps its message.
type configError struct{ err error }

func (e configError) Error() string   { return e.err.Error() }
func (e configError) Unwrap() []error { return []error{ErrConfig, e.err} }

// Server is a connection to one LXD server.
type Server struct {
	Name string
	c    lxd.InstanceServer
}

// Connect opens the LXD server of a standbys entry. Every request made through the
// returned Server obeys ctx (the LXD client binds the context at connect time), so a
// recover run passes its own run context.
func Connect(ctx context.Context, s config.Standby) (*Server, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("connect to LXD %s: %w", s.Name, configError{err})
	}
	var c lxd.InstanceServer
	switch u.Scheme {
	case "unix":
		c, err = lxd.ConnectLXDUnixWithContext(ctx, u.Path, nil)
	case "https":
		args := &lxd.ConnectionArgs{}
		var cert, key []byte
		if cert, err = os.ReadFile(s.ClientCertFile); err != nil {
			return nil, fmt.Errorf("connect to LXD %s: client certificate: %w", s.Name, configError{err})
		}
		if key, err = secret.ReadFileBytes(s.ClientKeyFile); err != nil {
			return nil, fmt.Errorf("connect to LXD %s: client key: %w", s.Name, configError{err})
		}
		args.TLSClientCert, args.TLSClientKey = string(cert), string(key)
		if s.ServerCertFile != "" {
			sc, err := os.ReadFile(s.ServerCertFile)
			if err != nil {
				return nil, fmt.Errorf("connect to LXD %s: server certificate: %w", s.Name, configError{err})
			}
			args.TLSServerCert = string(sc)
		}
		c, err = lxd.ConnectLXDWithContext(ctx, s.URL, args)
	default:
		return nil, fmt.Errorf("connect to LXD %s: %w", s.Name, configError{fmt.Errorf("unsupported URL %q", s.URL)})
	}
	if err != nil {
		return nil, fmt.Errorf("connect to LXD %s at %s: %w", s.Name, s.URL, err)
	}
	// LXD answers an untrusted client's GET /1.0 too; every later request would be
	// refused. Say so now, with the cause, rather than at the first container step.
	if srv, _, err := c.GetServer(); err == nil && srv.Auth != "trusted" {
		return nil, fmt.Errorf("connect to LXD %s at %s: %w (auth %q)", s.Name, s.URL, ErrUntrusted, srv.Auth)
	}
	return &Server{Name: s.Name, c: c}, nil
}

// Client exposes the LXD client for operations this package does not wrap (migration).
func (s *Server) Client() lxd.InstanceServer { return s.c }

// Spec says which container a service needs and where a missing one comes from.
type Spec struct {
	Name   string
	Backup config.Backup // Kind empty: the container must exist
	// Scratch makes a created container a copy that runs beside the real one (a
	// drill's): a backup tarball's NIC MAC addresses (volatile.*.hwaddr) are dropped
	// before it starts, so that it gets addresses of its own and never answers for the
	// real container's (DHCP leases by MAC).
	Scratch bool
	// StoragePool puts a created container's root disk on that LXD storage pool
	// (empty: the default profile's). A container that exists stays where it is.
	StoragePool string
}

// Outcome tells what Ensure did.
type Outcome struct {
	Created bool
	Started bool
}

// Ensure makes the container exist and run: created from spec.Backup if missing, started
// if stopped, left alone if running (a warm standby, or a second recover run).
func (s *Server) Ensure(ctx context.Context, spec Spec) (Outcome, error) {
	var out Outcome
	inst, _, err := s.c.GetInstance(spec.Name)
	if err != nil && !api.StatusErrorCheck(err, 404) {
		return out, fmt.Errorf("get container %s on %s: %w", spec.Name, s.Name, err)
	}
	if inst == nil {
		if spec.Backup.Kind == config.BackupNone {
			return out, fmt.Errorf("container %s on %s: %w", spec.Name, s.Name, ErrMissing)
		}
		if err := s.create(ctx, spec); err != nil {
			return out, err
		}
		out.Created = true
		if inst, _, err = s.c.GetInstance(spec.Name); err != nil {
			return out, fmt.Errorf("get container %s on %s after creating it: %w", spec.Name, s.Name, err)
		}
	}
	if inst.StatusCode == api.Running {
		return out, nil
	}
	if inst.StatusCode == api.Frozen {
		return out, s.state(ctx, spec.Name, "unfreeze")
	}
	if err := s.state(ctx, spec.Name, "start"); err != nil {
		return out, err
	}
	out.Started = true
	return out, nil
}

func (s *Server) create(ctx context.Context, spec Spec) error {
	var op lxd.Operation
	var err error
	switch spec.Backup.Kind {
	case config.BackupImage:
		src := api.InstanceSource{Type: "image", Alias: spec.Backup.Source}
		if isFingerprint(spec.Backup.Source) {
			src = api.InstanceSource{Type: "image", Fingerprint: spec.Backup.Source}
		}
		post := api.InstancesPost{Name: spec.Name, Source: src, Type: api.InstanceTypeContainer}
		post.Devices = onPool(nil, spec.StoragePool)
		op, err = s.c.CreateInstance(post)
	case config.BackupSnapshot:
		// "container/snap", or "snap" for a snapshot of the container itself (which
		// then exists, so this path is for a container that was deleted: not possible).
		src := spec.Backup.Source
		if !strings.Contains(src, "/") {
			return fmt.Errorf("create container %s from snapshot %q: name it as container/snapshot", spec.Name, src)
		}
		inst, snap, _ := strings.Cut(src, "/")
		sn, _, serr := s.c.GetInstanceSnapshot(inst, snap)
		if serr != nil {
			return fmt.Errorf("create container %s from snapshot %s: %w", spec.Name, src, serr)
		}
		// As `lxc copy` does: keep the snapshot's profiles and devices, drop volatile
		// keys (MAC address, idmap state) that must be new for a new container.
		cfg := map[string]string{}
		for k, v := range sn.Config {
			if !strings.HasPrefix(k, "volatile.") {
				cfg[k] = v
			}
		}
		op, err = s.c.CreateInstance(api.InstancesPost{
			Name:        spec.Name,
			InstancePut: api.InstancePut{Profiles: sn.Profiles, Config: cfg, Devices: onPool(sn.Devices, spec.StoragePool)},
			Source:      api.InstanceSource{Type: "copy", Source: src},
			Type:        api.InstanceTypeContainer,
		})
	case config.BackupTarball:
		f, ferr := os.Open(spec.Backup.Source)
		if ferr != nil {
			return fmt.Errorf("create container %s from backup: %w", spec.Name, ferr)
		}
		defer f.Close()
		op, err = s.c.CreateInstanceFromBackup(lxd.InstanceBackupArgs{BackupFile: f, Name: spec.Name, PoolName: spec.StoragePool})
	default:
		return fmt.Errorf("create container %s: unknown backup kind %s", spec.Name, spec.Backup.Kind)
	}
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err == nil && spec.Scratch {
		err = s.dropMACs(ctx, spec.Name)
	}
	if err != nil {
		return fmt.Errorf("create container %s on %s from %s %s: %w", spec.Name, s.Name, spec.Backup.Kind, spec.Backup.Source, err)
	}
	return nil
}

// onPool returns devices with the root disk on pool (devices themselves when pool is
// empty): the container's own root disk (type disk, path /) gets pool, keeping its other
// keys (size), or a device "root" is added. LXD takes an instance's own root disk over
// its profiles', so the container lands on pool whatever the target's default profile
// says. devices is not changed.
func onPool(devices map[string]map[string]string, pool string) map[string]map[string]string {
	if pool == "" {
		return devices
	}
	out := make(map[string]map[string]string, len(devices)+1)
	root := "root"
	for k, d := range devices {
		out[k] = d
		if d["type"] == "disk" && d["path"] == "/" {
			root = k
		}
	}
	d := map[string]string{"type": "disk", "path": "/"}
	for k, v := range out[root] {
		d[k] = v
	}
	d["pool"] = pool
	out[root] = d
	return out
}

// dropMACs removes the stopped container's volatile NIC MAC addresses; LXD makes new
// ones at its start. An image or a snapshot copy has new ones already.
func (s *Server) dropMACs(ctx context.Context, name string) error {
	inst, etag, err := s.c.GetInstance(name)
	if err != nil {
		return err
	}
	put := inst.Writable()
	changed := false
	for k := range put.Config {
		if strings.HasPrefix(k, "volatile.") && strings.HasSuffix(k, ".hwaddr") {
			delete(put.Config, k)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	op, err := s.c.UpdateInstance(name, put, etag)
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("new MAC addresses for %s: %w", name, err)
	}
	return nil
}

func isFingerprint(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// state changes the container's state: start, stop, unfreeze.
func (s *Server) state(ctx context.Context, name, action string) error {
	req := api.InstanceStatePut{Action: action, Timeout: -1}
	if action == "stop" {
		req.Force = true
	}
	op, err := s.c.UpdateInstanceState(name, req, "")
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("%s container %s on %s: %w", action, name, s.Name, err)
	}
	return nil
}

// Stop stops the container at once (a cold standby after failback).
func (s *Server) Stop(ctx context.Context, name string) error { return s.state(ctx, name, "stop") }

// Running reports whether the container exists and runs.
func (s *Server) Running(ctx context.Context, name string) (bool, error) {
	st, _, err := s.c.GetInstanceState(name)
	if api.StatusErrorCheck(err, 404) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("state of container %s on %s: %w", name, s.Name, err)
	}
	return st.StatusCode == api.Running, nil
}

// Live reports whether the container exists and holds its processes: it runs, or it
// is frozen and resumes when thawed (LXD freezes a running container on a dir pool for
// the whole of a snapshot). Whoever must know that no copy serves asks this.
func (s *Server) Live(ctx context.Context, name string) (bool, error) {
	live, _, err := s.status(name)
	return live, err
}

// WaitIPv4 polls until the container's interface has a global IPv4 address (from DHCP
// in the standby VM's bridge) or ctx ends. It asks every 10 ms for the first second (a
// just-started container gets its lease in about 0.1 s, and every millisecond here is
// downtime), then backs off.
func (s *Server) WaitIPv4(ctx context.Context, name, iface string) (netip.Addr, error) {
	backoff := 10 * time.Millisecond
	fastUntil := time.Now().Add(time.Second)
	for {
		st, _, err := s.c.GetInstanceState(name)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("address of container %s on %s: %w", name, s.Name, err)
		}
		if n, ok := st.Network[iface]; ok {
			for _, a := range n.Addresses {
				if a.Family == "inet" && a.Scope == "global" {
					if ip, err := netip.ParseAddr(a.Address); err == nil {
						return ip, nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return netip.Addr{}, fmt.Errorf("address of container %s on %s: no IPv4 on %s: %w", name, s.Name, iface, ctx.Err())
		case <-time.After(backoff):
			if time.Now().After(fastUntil) {
				backoff = min(backoff*2, 200*time.Millisecond)
			}
		}
	}
}

// ExecResult is the outcome of a command run in a container.
type ExecResult struct {
	ExitCode int
	Output   string // stdout and stderr, at most what a log line should hold
}

// Exec runs cmd in the container (a hook such as "promote the replica") and waits for
// it or ctx.
func (s *Server) Exec(ctx context.Context, name string, cmd []string) (ExecResult, error) {
	var out bytes.Buffer
	w := &capped{b: &out, left: 4096}
	done := make(chan bool)
	op, err := s.c.ExecInstance(name, api.InstanceExecPost{Command: cmd, WaitForWS: true},
		&lxd.InstanceExecArgs{Stdout: w, Stderr: w, DataDone: done})
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		return ExecResult{}, fmt.Errorf("run %q in container %s on %s: %w", strings.Join(cmd, " "), name, s.Name, err)
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	code := -1
	if v, ok := op.Get().Metadata["return"].(float64); ok {
		code = int(v)
	}
	return ExecResult{ExitCode: code, Output: out.String()}, nil
}

// capped keeps the first bytes of a hook's output and drops the rest. Stdout and
// stderr are written from two goroutines.
type capped struct {
	mu   sync.Mutex
	b    *bytes.Buffer
	left int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	if c.left > 0 {
		k := min(n, c.left)
		c.b.Write(p[:k])
		c.left -= k
	}
	return n, nil
}

// BackupCreated returns when a cold standby's backup was made: a tarball's
// modification time (a file on this machine, as Ensure reads it), an image's or a
// snapshot's creation time on this server. A source that vanished is an error naming it.
func (s *Server) BackupCreated(ctx context.Context, b config.Backup) (time.Time, error) {
	switch b.Kind {
	case config.BackupTarball:
		fi, err := os.Stat(b.Source)
		if err != nil {
			return time.Time{}, fmt.Errorf("backup tarball: %w", err)
		}
		return fi.ModTime(), nil
	case config.BackupImage:
		fp := b.Source
		if !isFingerprint(fp) {
			a, _, err := s.c.GetImageAlias(b.Source)
			if err != nil {
				return time.Time{}, fmt.Errorf("image alias %s on %s: %w", b.Source, s.Name, err)
			}
			fp = a.Target
		}
		img, _, err := s.c.GetImage(fp)
		if err != nil {
			return time.Time{}, fmt.Errorf("image %s on %s: %w", b.Source, s.Name, err)
		}
		return img.CreatedAt, nil
	case config.BackupSnapshot:
		inst, snap, ok := strings.Cut(b.Source, "/")
		if !ok {
			return time.Time{}, fmt.Errorf("snapshot %q: name it as container/snapshot", b.Source)
		}
		sn, _, err := s.c.GetInstanceSnapshot(inst, snap)
		if err != nil {
			return time.Time{}, fmt.Errorf("snapshot %s on %s: %w", b.Source, s.Name, err)
		}
		return sn.CreatedAt, nil
	}
	return time.Time{}, fmt.Errorf("no backup to date")
}
