package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/dcs"
	"github.com/vcrcovery/vcrcovery/internal/migration"
	"github.com/vcrcovery/vcrcovery/internal/placement"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// snapPrefix marks the snapshots the agent makes; it never touches any other (an
// operator's own snapshots of a pooled container stay).
const snapPrefix = "vcr-"

// replicate is one period of the owner: snapshot the container, refresh the snapshot
// onto each replica host the ring gives the service, check it there, commit it (only
// if at least one replica holds it, or the ring has no other host), prune what the
// commit no longer keeps, remove the copies of hosts no longer in the group, and
// report to Zabbix.
func (s *service) replicate(ctx context.Context, sess Session) error {
	a, c, name := s.a, s.cfg.Container, s.cfg.Name
	t0 := a.now()
	snap := snapPrefix + strconv.FormatInt(t0.UnixMilli(), 10)
	if err := a.own.Snapshot(ctx, c, snap); err != nil {
		return err
	}
	snapTook := a.now().Sub(t0)
	// What every copy carries: the container's own devices (whose networks each replica
	// must have) and its files, whose size is committed with the snapshot.
	src, err := a.own.Inspect(ctx, c)
	if err != nil {
		s.dropSnapshot(ctx, snap)
		return fmt.Errorf("snapshot %s: %w", snap, err)
	}
	size, sizeFrom := s.size(ctx, src)
	t1 := a.now()
	ring, err := a.live(ctx)
	if err != nil {
		s.dropSnapshot(ctx, snap)
		return fmt.Errorf("snapshot %s: read the pool members: %w", snap, err)
	}
	p := ring.PlaceOwned(s.ps, a.Host)
	// One connection per host for the whole round: copy, prune and clean-up.
	servers := servers{a: a, open: map[string]Server{}}
	var held []string
	for _, h := range p.Replicas {
		if err := s.copyTo(ctx, servers, h, snap, src.Devices); err != nil {
			a.Log.Warn("replica not refreshed", "service", name, "replica", h, "snapshot", snap, "err", err)
			continue
		}
		held = append(held, h)
	}
	copyTook := a.now().Sub(t1)
	if len(held) == 0 && len(p.Replicas) > 0 {
		s.dropSnapshot(ctx, snap)
		s.report(ctx, p)
		return fmt.Errorf("snapshot %s: %w (wanted on %v)", snap, errNoHolder, p.Replicas)
	}
	committed, err := sess.Commit(ctx, name, dcs.Snapshot{Name: snap, Created: t0.UTC(), Size: size, Replicas: held, Address: s.addr.String()})
	if err != nil {
		if !errors.Is(err, dcs.ErrNotOwner) {
			s.dropSnapshot(ctx, snap)
		}
		return err
	}
	a.Log.Info("snapshot committed", "service", name, "snapshot", snap, "replicas", held, "missing", p.Missing,
		"size_bytes", size, "size_from", sizeFrom, "snapshot_seconds", snapTook.Seconds(), "copy_seconds", copyTook.Seconds(),
		"revision", committed.Revision)
	if kept, err := a.store.Snapshots(ctx, name); err == nil {
		keep := make([]string, 0, len(kept))
		for _, k := range kept {
			keep = append(keep, k.Name)
		}
		for _, h := range append([]string{a.Host}, held...) {
			s.prune(ctx, servers, h, keep)
		}
	}
	s.removeStale(ctx, servers, ring, p)
	s.report(ctx, p)
	return nil
}

// servers are the pool hosts' LXD servers of one replication round, connected on first
// use (their requests obey the round's ctx).
type servers struct {
	a    *Agent
	open map[string]Server
}

func (ss servers) get(ctx context.Context, host string) (Server, error) {
	if srv, ok := ss.open[host]; ok {
		return srv, nil
	}
	srv, err := ss.a.connect(ctx, host)
	if err == nil {
		ss.open[host] = srv
	}
	return srv, err
}

// dropSnapshot deletes a snapshot that was not committed.
func (s *service) dropSnapshot(ctx context.Context, snap string) {
	if err := s.a.own.DeleteSnapshot(context.WithoutCancel(ctx), s.cfg.Container, snap); err != nil {
		s.a.Log.Warn("uncommitted snapshot not deleted", "service", s.cfg.Name, "snapshot", snap, "err", err)
	}
}

// size is the snapshot's size in bytes and where the figure comes from: LXD's usage of
// the container's root disk where its storage driver reports one (btrfs, zfs, lvm, dir
// with project quotas), else du inside the running container. LXD 5.0.2 on a dir pool
// without quotas reports no usage of the instance ("disk": {}), of its volume ("Not
// supported") or of a snapshot, and of a copy only a progress text at most once a
// second, without the final count. On dir a snapshot is a full copy of these files: a
// replica's first copy moves them all, a refresh (rsync) what changed since the
// replica's latest snapshot, at most this. 0: unknown (a stopped container on such a
// pool, at the step-down).
func (s *service) size(ctx context.Context, info container.Info) (int64, string) {
	if info.DiskBytes > 0 {
		return info.DiskBytes, "lxd"
	}
	if !info.Running {
		return 0, "unknown"
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := s.a.own.DuUsage(dctx, s.cfg.Container)
	if err != nil {
		s.a.rate.Log(slog.LevelWarn, "du:"+s.cfg.Name, "snapshot size unknown: du in the container failed", "service", s.cfg.Name, "err", err)
		return 0, "unknown"
	}
	return n, "du"
}

// errNICNotPortable: the owned container has a NIC device of its own on a network the
// replica lacks. vcr-migrate maps such a NIC (standbys[].network), but a pool copy
// carries the snapshots, and LXD 5.0.2 creates the target's snapshot records with the
// owner's devices unchanged and refuses them there ("Failed creating instance snapshot
// record ... Failed to load network"), whatever devices the copy gives the instance.
var errNICNotPortable = errors.New("a pool copy carries its snapshots with the owner's NIC devices, which LXD refuses on a host without that network: " +
	"give the container its NIC from each host's profile (as a container created from an image gets it), or a managed network of that name to every pool host")

// checkNetworks refuses, before any data moves, a copy onto host that LXD would refuse
// at its first snapshot record (errNICNotPortable); the same check as vcr-migrate's.
func (s *service) checkNetworks(ctx context.Context, srv Server, host string, devices map[string]map[string]string) error {
	sb, _ := s.a.standby(host)
	_, mapped, err := migration.MapNetworks(devices, sb.Network, func(n string) (bool, error) { return srv.ManagedNetwork(ctx, n) })
	switch {
	case errors.Is(err, migration.ErrUnmapped):
		return fmt.Errorf("not copying to %s: %w: %w", host, err, errNICNotPortable)
	case err != nil:
		return fmt.Errorf("not copying to %s: %w", host, err)
	case len(mapped) > 0:
		return fmt.Errorf("not copying to %s: it would need %s: %w", host, strings.Join(mapped, ", "), errNICNotPortable)
	}
	return nil
}

// copyTo copies the container (a full copy the first time, then a refresh of what
// changed) onto host, and checks that snap arrived there. devices are the container's
// own, which the copy carries.
func (s *service) copyTo(ctx context.Context, servers servers, host, snap string, devices map[string]map[string]string) error {
	c := s.cfg.Container
	srv, err := servers.get(ctx, host)
	if err != nil {
		return err
	}
	if err := s.checkNetworks(ctx, srv, host, devices); err != nil {
		return err
	}
	exists, err := srv.Exists(ctx, c)
	if err != nil {
		return err
	}
	if exists {
		// A replica is a stopped copy; a running one is a stale owner's, which its
		// own agent stops. Refreshing over it would change files under a service.
		if running, err := srv.Live(ctx, c); err != nil || running {
			return fmt.Errorf("the copy on %s runs (or its state is unknown: %v): not refreshing over it", host, err)
		}
	}
	if err := s.a.copy(ctx, srv, s.a.own, c, container.CopyOptions{Refresh: exists, StoragePool: s.cfg.StoragePool}); err != nil {
		return err
	}
	names, err := srv.Snapshots(ctx, c)
	if err != nil {
		return fmt.Errorf("check the copy on %s: %w", host, err)
	}
	if !slices.Contains(names, snap) {
		return fmt.Errorf("check the copy on %s: snapshot %s is not there after the copy", host, snap)
	}
	return nil
}

// prune deletes, on host, the agent's snapshots that the commits no longer keep.
func (s *service) prune(ctx context.Context, servers servers, host string, keep []string) {
	srv, err := servers.get(ctx, host)
	if err != nil {
		return
	}
	names, err := srv.Snapshots(ctx, s.cfg.Container)
	if err != nil {
		return
	}
	for _, n := range names {
		if strings.HasPrefix(n, snapPrefix) && !slices.Contains(keep, n) {
			if err := srv.DeleteSnapshot(ctx, s.cfg.Container, n); err != nil {
				s.a.Log.Warn("old snapshot not deleted", "service", s.cfg.Name, "host", host, "snapshot", n, "err", err)
			}
		}
	}
}

// removeStale deletes the stopped copies on live hosts that the ring no longer gives
// the service (a host joined nearer, or the group moved after a failure). A running
// copy is left to its own agent, which stops it as stale.
func (s *service) removeStale(ctx context.Context, servers servers, ring *placement.Ring, p placement.Placement) {
	for _, h := range ring.Hosts() {
		if p.Uses(h.Name) {
			continue
		}
		srv, err := servers.get(ctx, h.Name)
		if err != nil {
			continue
		}
		if exists, err := srv.Exists(ctx, s.cfg.Container); err != nil || !exists {
			continue
		}
		if running, err := srv.Live(ctx, s.cfg.Container); err != nil || running {
			continue
		}
		if err := srv.Delete(ctx, s.cfg.Container); err != nil {
			s.a.Log.Warn("copy of a host outside the group not deleted", "service", s.cfg.Name, "host", h.Name, "err", err)
			continue
		}
		s.a.Log.Info("deleted the copy of a host outside the group", "service", s.cfg.Name, "host", h.Name)
	}
}

// report sends the service's vcr.pool.* items (template "vcrcovery pooled service"):
// the owner, how many of the placed replicas hold the latest committed snapshot, how
// many are wanted, and that snapshot's age and size (when known).
func (s *service) report(ctx context.Context, p placement.Placement) {
	a := s.a
	if a.Zabbix == nil {
		return
	}
	host := s.cfg.ZabbixHost
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	vals := []zabbix.Value{
		{Host: host, Key: zabbix.KeyPoolOwner, Value: a.Host},
		{Host: host, Key: zabbix.KeyPoolReplicasWanted, Value: strconv.Itoa(s.cfg.Replicas)},
		{Host: host, Key: zabbix.KeyPoolSnapshotPeriod, Value: num(a.Inventory.Pool.SnapshotPeriod.Seconds())},
	}
	holding := 0
	if latest, ok, err := a.store.Latest(ctx, s.cfg.Name); err == nil && ok {
		for _, r := range p.Replicas {
			if slices.Contains(latest.Replicas, r) {
				holding++
			}
		}
		vals = append(vals, zabbix.Value{Host: host, Key: zabbix.KeyPoolSnapshotAge, Value: num(a.now().Sub(latest.Created).Seconds())})
		if latest.Size > 0 {
			vals = append(vals, zabbix.Value{Host: host, Key: zabbix.KeyPoolSnapshotSize, Value: strconv.FormatInt(latest.Size, 10)})
		}
	}
	vals = append(vals, zabbix.Value{Host: host, Key: zabbix.KeyPoolReplicas, Value: strconv.Itoa(holding)})
	if _, err := a.Zabbix.Send(ctx, vals); err != nil {
		a.rate.Log(slog.LevelWarn, "zabbix:"+s.cfg.Name, "report to zabbix failed", "service", s.cfg.Name, "err", err)
	}
}
