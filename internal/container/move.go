package container

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared"
	"github.com/canonical/lxd/shared/api"
)

// ErrExists: the target server already has an instance of that name.
var ErrExists = errors.New("an instance of that name exists already")

// Info is what a migration needs to know of one container on one server.
type Info struct {
	Name     string
	Status   string // Running, Stopped, Frozen
	Running  bool   // running or frozen: it holds the service's processes
	Profiles []string
	// Devices are the container's own devices (not those of its profiles): the ones a
	// copy carries to the target as they are.
	Devices map[string]map[string]string
	// ProfileDevices are the devices its profiles give it here; on the target the
	// profiles of the same names give theirs.
	ProfileDevices map[string]map[string]string
	Pool           string // storage pool of the root disk
	DiskBytes      int64  // root disk usage (-1: unknown, e.g. dir pools without quotas)
	MemoryBytes    int64  // memory usage now
	CPUNanos       int64  // CPU time used since the start
}

// Inspect returns what the server knows of the container, or an error wrapping
// ErrMissing when it does not exist.
func (s *Server) Inspect(ctx context.Context, name string) (Info, error) {
	inst, _, err := s.c.GetInstance(name)
	if api.StatusErrorCheck(err, 404) {
		return Info{}, fmt.Errorf("container %s on %s: %w", name, s.Name, ErrMissing)
	}
	if err != nil {
		return Info{}, fmt.Errorf("get container %s on %s: %w", name, s.Name, err)
	}
	info := Info{Name: name, Status: inst.Status, Profiles: inst.Profiles, Devices: inst.Devices,
		ProfileDevices: map[string]map[string]string{}, DiskBytes: -1}
	info.Running = inst.StatusCode == api.Running || inst.StatusCode == api.Frozen
	for k, d := range inst.ExpandedDevices {
		if _, own := inst.Devices[k]; !own {
			info.ProfileDevices[k] = d
		}
		if d["type"] == "disk" && d["path"] == "/" {
			info.Pool = d["pool"]
		}
	}
	st, _, err := s.c.GetInstanceState(name)
	if err != nil {
		return Info{}, fmt.Errorf("state of container %s on %s: %w", name, s.Name, err)
	}
	if d, ok := st.Disk["root"]; ok && d.Usage > 0 {
		info.DiskBytes = d.Usage
	}
	info.MemoryBytes, info.CPUNanos = st.Memory.Usage, st.CPU.Usage
	return info, nil
}

// Exists reports whether an instance of that name exists on the server.
func (s *Server) Exists(ctx context.Context, name string) (bool, error) {
	_, _, err := s.c.GetInstance(name)
	if api.StatusErrorCheck(err, 404) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get container %s on %s: %w", name, s.Name, err)
	}
	return true, nil
}

// RunningCount counts the server's running (or frozen) containers: what a standby's
// capacity is measured in.
func (s *Server) RunningCount(ctx context.Context) (int, error) {
	insts, err := s.c.GetInstances(api.InstanceTypeContainer)
	if err != nil {
		return 0, fmt.Errorf("list containers on %s: %w", s.Name, err)
	}
	n := 0
	for _, i := range insts {
		if i.StatusCode == api.Running || i.StatusCode == api.Frozen {
			n++
		}
	}
	return n, nil
}

// ManagedNetwork reports whether the server has a managed (LXD) network of that name:
// a NIC device's "network" key can only name one of those.
func (s *Server) ManagedNetwork(ctx context.Context, name string) (bool, error) {
	n, _, err := s.c.GetNetwork(name)
	if api.StatusErrorCheck(err, 404) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get network %s on %s: %w", name, s.Name, err)
	}
	return n.Managed, nil
}

// Profiles lists the server's profile names.
func (s *Server) Profiles(ctx context.Context) ([]string, error) {
	names, err := s.c.GetProfileNames()
	if err != nil {
		return nil, fmt.Errorf("list profiles on %s: %w", s.Name, err)
	}
	return names, nil
}

// DuUsage measures a running container's root file system from inside (du -skx /,
// which busybox and coreutils both have): dir pools without quotas report no disk
// usage, and a copy's room must be known before it starts.
func (s *Server) DuUsage(ctx context.Context, name string) (int64, error) {
	res, err := s.Exec(ctx, name, []string{"du", "-skx", "/"})
	if err != nil {
		return 0, err
	}
	f := strings.Fields(res.Output)
	if res.ExitCode != 0 || len(f) == 0 {
		return 0, fmt.Errorf("du in container %s on %s: exit %d: %s", name, s.Name, res.ExitCode, strings.TrimSpace(res.Output))
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("du in container %s on %s: %q: %w", name, s.Name, f[0], err)
	}
	return kb << 10, nil
}

// PoolFree returns the free bytes of a storage pool.
func (s *Server) PoolFree(ctx context.Context, pool string) (uint64, error) {
	r, err := s.c.GetStoragePoolResources(pool)
	if err != nil {
		return 0, fmt.Errorf("resources of storage pool %s on %s: %w", pool, s.Name, err)
	}
	return r.Space.Total - r.Space.Used, nil
}

// Freeze pauses every process of the container (cgroup freezer): the service stops
// answering and writing at once, its memory and connections stay, and Unfreeze resumes
// it in milliseconds. The cut-over of a migration freezes instead of stopping.
//
// On cgroup v1, liblxc writes FROZEN, reads the freezer's state once and, if the kernel
// still says FREEZING (its tasks not yet scheduled into the freezer), sleeps a whole
// second before reading again (freezer.c, do_freeze_thaw): on the lab 5 of 9 cut-overs
// lost that second. So when the freeze request has not ended after 20 ms, Freeze sends
// another (then after 40, 80, ... ms, five at most): each one's liblxc writes FROZEN
// again (no change) and reads the state anew. Freeze returns as soon as one request
// ends well (liblxc read FROZEN: every task is frozen) or LXD reports the container
// Frozen; measured on the lab: 10-90 ms instead of 1.01 s. done waits for every
// request to end and returns the first one's error: call it before thawing or
// stopping the container, since a thaw during a request's sleep would leave it
// waiting for FROZEN for ever.
func (s *Server) Freeze(ctx context.Context, name string) (done func() error, err error) {
	fail := func(err error) error { return fmt.Errorf("freeze container %s on %s: %w", name, s.Name, err) }
	// The requests run on in LXD whatever happens to this run: wait for each to its
	// end (bounded: liblxc re-reads every second).
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	var wg sync.WaitGroup
	var firstErr error // written before wg.Done, read after wg.Wait
	type result struct {
		first bool
		err   error
	}
	results := make(chan result, 8)
	request := func(first bool) error {
		op, err := s.c.UpdateInstanceState(name, api.InstanceStatePut{Action: "freeze", Timeout: -1}, "")
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := op.WaitContext(wctx)
			if first {
				firstErr = err
			}
			results <- result{first, err}
		}()
		return nil
	}
	if err := request(true); err != nil {
		cancel()
		return func() error { return nil }, fail(err)
	}
	done = sync.OnceValue(func() error {
		wg.Wait()
		cancel()
		if firstErr != nil {
			return fail(firstErr)
		}
		return nil
	})
	every := 20 * time.Millisecond
	timer := time.NewTimer(every)
	defer timer.Stop()
	for confirmers := 0; ; {
		select {
		case r := <-results:
			if r.err == nil {
				return done, nil
			}
			if r.first {
				return done, fail(r.err)
			}
			// A second request is refused once LXD reports the container frozen
			// ("already frozen"); any other refusal leaves it to the first one.
			if inst, _, err := s.c.GetInstance(name); err == nil && inst.StatusCode == api.Frozen {
				return done, nil
			}
		case <-timer.C:
			if confirmers < 5 && request(false) == nil {
				confirmers++
			}
			every *= 2
			timer.Reset(every)
		case <-ctx.Done():
			return done, fail(ctx.Err())
		}
	}
}

// Unfreeze resumes a frozen container.
func (s *Server) Unfreeze(ctx context.Context, name string) error {
	return s.state(ctx, name, "unfreeze")
}

// Start starts a stopped container.
func (s *Server) Start(ctx context.Context, name string) error { return s.state(ctx, name, "start") }

// StopGraceful asks the container's init to shut down and waits up to timeout; if it is
// still running then, it is stopped by force. It reports whether it had to force.
func (s *Server) StopGraceful(ctx context.Context, name string, timeout time.Duration) (forced bool, err error) {
	secs := int(timeout.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1 // LXD counts whole seconds; 0 would mean "no timeout"
	}
	op, err := s.c.UpdateInstanceState(name, api.InstanceStatePut{Action: "stop", Timeout: secs}, "")
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err == nil {
		return false, nil
	}
	if ctx.Err() != nil {
		return false, fmt.Errorf("stop container %s on %s: %w", name, s.Name, err)
	}
	return true, s.Stop(ctx, name)
}

// Delete removes a stopped container.
func (s *Server) Delete(ctx context.Context, name string) error {
	op, err := s.c.DeleteInstance(name)
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("delete container %s on %s: %w", name, s.Name, err)
	}
	return nil
}

// NamesWithPrefix lists the server's containers whose name starts with prefix (a
// drill's leftover scratch instances).
func (s *Server) NamesWithPrefix(ctx context.Context, prefix string) ([]string, error) {
	names, err := s.c.GetInstanceNames(api.InstanceTypeContainer)
	if err != nil {
		return nil, fmt.Errorf("list containers on %s: %w", s.Name, err)
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out, nil
}

// Remove stops the container by force if it runs and deletes it; one that does not
// exist is no error. A drill's scratch instance is removed this way, whatever state
// its drill left it in.
func (s *Server) Remove(ctx context.Context, name string) error {
	inst, _, err := s.c.GetInstance(name)
	switch {
	case api.StatusErrorCheck(err, 404):
		return nil
	case err != nil:
		return fmt.Errorf("remove container %s on %s: %w", name, s.Name, err)
	}
	if inst.StatusCode == api.Running || inst.StatusCode == api.Frozen {
		if err := s.Stop(ctx, name); err != nil {
			return err
		}
	}
	return s.Delete(ctx, name)
}

// CopyOptions tunes CopyFrom.
type CopyOptions struct {
	// Refresh sends only what changed since the last copy onto the existing, stopped
	// target (rsync of the delta on dir pools).
	Refresh bool
	// Devices replaces the container's own devices on the target (network mapping);
	// nil keeps the source's.
	Devices map[string]map[string]string
	// StoragePool puts the target's root disk on that storage pool (onPool; empty:
	// the source's own root device, or the target's default profile). A refresh
	// leaves an existing target where it is.
	StoragePool string
	// Progress gets LXD's progress text ("rsync: 42.35MB (42.34MB/s)") about once a
	// second while data moves; may be nil.
	Progress func(text string)
}

// CopyFrom copies (or refreshes) container name from src to this server, server to
// server, without CRIU (stateless) and without freezing a running source
// (AllowInconsistent): a frozen source stays frozen and is then consistent, a running
// one keeps serving while its files are read. Volatile keys stay behind as `lxc copy`
// leaves them (the target gets its own MAC address and state), except the base image.
func (s *Server) CopyFrom(ctx context.Context, src *Server, name string, o CopyOptions) error {
	what := "copy"
	if o.Refresh {
		what = "refresh"
	}
	inst, _, err := src.c.GetInstance(name)
	if err != nil {
		return fmt.Errorf("%s container %s from %s to %s: get source: %w", what, name, src.Name, s.Name, err)
	}
	cfg := map[string]string{}
	for k, v := range inst.Config {
		if shared.InstanceIncludeWhenCopying(k, true) {
			cfg[k] = v
		}
	}
	inst.Config = cfg
	if o.Devices != nil {
		inst.Devices = o.Devices
	}
	inst.Devices = onPool(inst.Devices, o.StoragePool)
	rop, err := s.c.CopyInstance(src.c, *inst, &lxd.InstanceCopyArgs{Live: false, Refresh: o.Refresh, AllowInconsistent: true})
	if err != nil {
		return fmt.Errorf("%s container %s from %s to %s: %w", what, name, src.Name, s.Name, err)
	}
	if o.Progress != nil {
		_, _ = rop.AddHandler(func(op api.Operation) {
			if p := progressText(op.Metadata); p != "" {
				o.Progress(p)
			}
		})
	}
	done := make(chan error, 1)
	go func() { done <- rop.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = rop.CancelTarget()
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("%s container %s from %s to %s: %w", what, name, src.Name, s.Name, err)
	}
	return nil
}

// progressText picks LXD's progress field out of an operation's metadata.
func progressText(md map[string]any) string {
	for k, v := range md {
		if t, ok := v.(string); ok && strings.HasSuffix(k, "_progress") {
			return t
		}
	}
	return ""
}
