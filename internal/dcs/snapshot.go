package dcs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Snapshot is the record of a committed snapshot under snapshots/<service>/<name>:
// the owner wrote it after the snapshot's copy onto each replica host had finished and
// was checked there.
type Snapshot struct {
	// Name is the LXD snapshot name, the same on the owner and every replica.
	Name string `json:"name"`
	// Created is when the snapshot was taken on the owner.
	Created time.Time `json:"created"`
	// Size is the snapshot's size in bytes as the owner measured it.
	Size int64 `json:"size"`
	// Replicas are the hosts whose copy was checked before the commit.
	Replicas []string `json:"replicas"`
	// Address is where the owner's container served when it committed: the address
	// the service's DNS name points at, which a takeover's compare-and-set expects.
	Address string `json:"address,omitempty"`
	// Owner is the committing host; Commit fills it in.
	Owner string `json:"owner"`
	// Committed is when the commit was sent (the owner's clock); Commit fills it in.
	Committed time.Time `json:"committed"`
	// Revision is the etcd revision of the commit, read back; commits of one service
	// are ordered by it.
	Revision int64 `json:"-"`
}

// Commit records snap as the latest committed snapshot of service, in one
// transaction that succeeds only if this session owns the service (the owner key
// holds this host's name and this session's lease): a former owner, or a host whose
// session ended, can never commit; it gets ErrNotOwner. The same transaction deletes
// the oldest records beyond the client's Keep.
func (s *Session) Commit(ctx context.Context, service string, snap Snapshot) (Snapshot, error) {
	if err := checkName("service", service); err != nil {
		return Snapshot{}, err
	}
	if err := checkName("snapshot", snap.Name); err != nil {
		return Snapshot{}, err
	}
	snap.Owner, snap.Committed = s.host, time.Now().UTC()
	v, err := json.Marshal(snap)
	if err != nil {
		return Snapshot{}, fmt.Errorf("commit snapshot %s/%s: %w", service, snap.Name, err)
	}
	// Which records to prune is read first and outside the transaction: only the
	// owner writes them, and a delete of a key that went meanwhile does nothing.
	old, err := s.c.Snapshots(ctx, service)
	if err != nil {
		return Snapshot{}, fmt.Errorf("commit snapshot %s/%s: %w", service, snap.Name, err)
	}
	ops := []clientv3.Op{clientv3.OpPut(s.c.keys.snapshot(service, snap.Name), string(v))}
	kept := 1
	for _, o := range old {
		if o.Name == snap.Name {
			continue
		}
		if kept < s.c.keep {
			kept++
			continue
		}
		ops = append(ops, clientv3.OpDelete(s.c.keys.snapshot(service, o.Name)))
	}
	r, err := s.c.etcd.Txn(ctx).If(s.ownerIs(service)...).Then(ops...).Commit()
	if err != nil {
		return Snapshot{}, fmt.Errorf("commit snapshot %s/%s as %s: %w", service, snap.Name, s.host, classify(err))
	}
	if !r.Succeeded {
		return Snapshot{}, fmt.Errorf("commit snapshot %s/%s as %s: %w", service, snap.Name, s.host, ErrNotOwner)
	}
	snap.Revision = r.Header.Revision
	return snap, nil
}

// Snapshots returns the committed snapshots of service, the latest first.
func (c *Client) Snapshots(ctx context.Context, service string) ([]Snapshot, error) {
	return c.snapshots(ctx, service)
}

// Latest returns the latest committed snapshot of service; false when none is.
func (c *Client) Latest(ctx context.Context, service string) (Snapshot, bool, error) {
	s, err := c.snapshots(ctx, service, clientv3.WithLimit(1))
	if err != nil || len(s) == 0 {
		return Snapshot{}, false, err
	}
	return s[0], true, nil
}

func (c *Client) snapshots(ctx context.Context, service string, opts ...clientv3.OpOption) ([]Snapshot, error) {
	if err := checkName("service", service); err != nil {
		return nil, err
	}
	opts = append(opts, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend))
	r, err := c.etcd.Get(ctx, c.keys.snapshots(service), append(opts, c.read...)...)
	if err != nil {
		return nil, fmt.Errorf("read snapshots of %s: %w", service, classify(err))
	}
	out := make([]Snapshot, 0, len(r.Kvs))
	for _, kv := range r.Kvs {
		var s Snapshot
		if err := json.Unmarshal(kv.Value, &s); err != nil {
			return nil, fmt.Errorf("read snapshots of %s: record %s: %w", service, kv.Key, err)
		}
		s.Revision = kv.ModRevision
		out = append(out, s)
	}
	return out, nil
}
