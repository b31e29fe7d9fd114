package container

import (
	"context"
	"fmt"

	"github.com/canonical/lxd/shared/api"
)

// Snapshot takes a stateless snapshot of the container (running or not) named snap.
// A running container is not frozen: on a dir pool the snapshot is a copy of its files
// taken while it runs, as `lxc snapshot` without --stateful makes it.
func (s *Server) Snapshot(ctx context.Context, name, snap string) error {
	op, err := s.c.CreateInstanceSnapshot(name, api.InstanceSnapshotsPost{Name: snap})
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("snapshot container %s as %s on %s: %w", name, snap, s.Name, err)
	}
	return nil
}

// Snapshots lists the names of the container's snapshots; none when the container
// does not exist.
func (s *Server) Snapshots(ctx context.Context, name string) ([]string, error) {
	names, err := s.c.GetInstanceSnapshotNames(name)
	if api.StatusErrorCheck(err, 404) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list snapshots of container %s on %s: %w", name, s.Name, err)
	}
	return names, nil
}

// DeleteSnapshot removes one snapshot of the container.
func (s *Server) DeleteSnapshot(ctx context.Context, name, snap string) error {
	op, err := s.c.DeleteInstanceSnapshot(name, snap)
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("delete snapshot %s of container %s on %s: %w", snap, name, s.Name, err)
	}
	return nil
}

// Restore puts the stopped container's files back to the snapshot's.
func (s *Server) Restore(ctx context.Context, name, snap string) error {
	op, err := s.c.UpdateInstance(name, api.InstancePut{Restore: snap}, "")
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("restore container %s to snapshot %s on %s: %w", name, snap, s.Name, err)
	}
	return nil
}
