package dcs

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Owner is the record of a service's owner: the host name under owners/<service>,
// bound to the owner's lease, with the key's revisions.
type Owner struct {
	Host  string
	Lease int64
	// CreateRevision is the revision at which this claim was written; ModRevision the
	// last change of the key. Both 0: the service has no owner.
	CreateRevision, ModRevision int64
}

// Exists reports whether the record names an owner.
func (o Owner) Exists() bool { return o.CreateRevision != 0 }

func ownerOf(kv *mvccpb.KeyValue) Owner {
	if kv == nil {
		return Owner{}
	}
	return Owner{Host: string(kv.Value), Lease: kv.Lease, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision}
}

// Owner reads the current owner of service; Owner{} when it has none.
func (c *Client) Owner(ctx context.Context, service string) (Owner, error) {
	if err := checkName("service", service); err != nil {
		return Owner{}, err
	}
	r, err := c.etcd.Get(ctx, c.keys.owner(service), c.read...)
	if err != nil {
		return Owner{}, fmt.Errorf("read owner of %s: %w", service, classify(err))
	}
	if len(r.Kvs) == 0 {
		return Owner{}, nil
	}
	return ownerOf(r.Kvs[0]), nil
}

// Claim makes this session the owner of service if it has none, in one transaction
// (the owner key's CreateRevision is 0, then put it with the session's lease): of any
// number of racing claimers exactly one wins. It returns whether this session owns the
// service now and the owner record; a claim by a session that owns it already wins.
func (s *Session) Claim(ctx context.Context, service string) (bool, Owner, error) {
	return s.put(ctx, "claim", service, clientv3.Compare(clientv3.CreateRevision(s.c.keys.owner(service)), "=", 0))
}

// Transfer replaces the owner record seen (as Owner returned it) by this session,
// only if the key has not changed since (its ModRevision is still seen's): for a
// record whose holder is known dead but whose key has not gone (a lease that etcd has
// not expired yet, or a record written without one). If anyone claimed, released or
// transferred the service meanwhile, it refuses and returns the current owner. A seen
// without owner (Owner{}) makes it a Claim.
func (s *Session) Transfer(ctx context.Context, service string, seen Owner) (bool, Owner, error) {
	return s.put(ctx, "transfer", service, clientv3.Compare(clientv3.ModRevision(s.c.keys.owner(service)), "=", seen.ModRevision))
}

// put writes the owner key with the session's lease if cmp holds, else reads it.
func (s *Session) put(ctx context.Context, what, service string, cmp clientv3.Cmp) (bool, Owner, error) {
	if err := checkName("service", service); err != nil {
		return false, Owner{}, err
	}
	key := s.c.keys.owner(service)
	r, err := s.c.etcd.Txn(ctx).
		If(cmp).
		Then(clientv3.OpPut(key, s.host, clientv3.WithLease(s.lease)), clientv3.OpGet(key)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return false, Owner{}, fmt.Errorf("%s %s as %s: %w", what, service, s.host, classify(err))
	}
	get := r.Responses[len(r.Responses)-1].GetResponseRange()
	var cur Owner
	if len(get.Kvs) > 0 {
		cur = ownerOf(get.Kvs[0])
	}
	return r.Succeeded || s.Owns(cur), cur, nil
}

// Owns reports whether o (as Owner read it) is this session's claim: this host's
// name with this session's lease. The same name with another lease is an earlier run's.
func (s *Session) Owns(o Owner) bool {
	return o.Exists() && o.Host == s.host && o.Lease == int64(s.lease)
}

// ownerIs compares the owner key of service with this session's claim: the host name
// and the lease in one transaction, the token a commit or a release must hold.
func (s *Session) ownerIs(service string) []clientv3.Cmp {
	key := s.c.keys.owner(service)
	return []clientv3.Cmp{
		clientv3.Compare(clientv3.Value(key), "=", s.host),
		clientv3.Compare(clientv3.LeaseValue(key), "=", int64(s.lease)),
	}
}

// Release gives up the ownership of service (a step-down): it deletes the owner key
// only if this session holds it. ErrNotOwner when it does not.
func (s *Session) Release(ctx context.Context, service string) error {
	if err := checkName("service", service); err != nil {
		return err
	}
	r, err := s.c.etcd.Txn(ctx).If(s.ownerIs(service)...).Then(clientv3.OpDelete(s.c.keys.owner(service))).Commit()
	if err != nil {
		return fmt.Errorf("release %s as %s: %w", service, s.host, classify(err))
	}
	if !r.Succeeded {
		return fmt.Errorf("release %s as %s: %w", service, s.host, ErrNotOwner)
	}
	return nil
}
