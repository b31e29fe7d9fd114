package dcs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Members is the live membership at one etcd revision.
type Members struct {
	// Live maps host name to its member record.
	Live map[string]Member
	// Revision is the etcd revision this view is current at.
	Revision int64
}

// Hosts returns the live host names, sorted.
func (m Members) Hosts() []string { return slices.Sorted(maps.Keys(m.Live)) }

// Members reads the live membership.
func (c *Client) Members(ctx context.Context) (Members, error) {
	r, err := c.etcd.Get(ctx, c.keys.members(), append([]clientv3.OpOption{clientv3.WithPrefix()}, c.read...)...)
	if err != nil {
		return Members{}, fmt.Errorf("read pool members: %w", classify(err))
	}
	m := Members{Live: map[string]Member{}, Revision: r.Header.Revision}
	for _, kv := range r.Kvs {
		host, rec := c.member(kv)
		m.Live[host] = rec
	}
	return m, nil
}

// member decodes a member key; a record that does not decode still names its host.
func (c *Client) member(kv *mvccpb.KeyValue) (string, Member) {
	host := strings.TrimPrefix(string(kv.Key), c.keys.members())
	var rec Member
	if json.Unmarshal(kv.Value, &rec) != nil || rec.Host != host {
		rec = Member{Host: host, Lease: kv.Lease}
	}
	return host, rec
}

// Change is one step of the membership as WatchMembers sends it.
type Change struct {
	// Members is the whole live membership after the change.
	Members
	// Joined and Left are the hosts that came and went with this change, sorted; both
	// empty in the first view and after a resync that found nothing new.
	Joined, Left []string
	// Err is non-nil (wrapping ErrUnreachable) when etcd stopped answering: Members is
	// then the last view known, possibly stale, and the watch keeps retrying.
	Err error
}

// WatchMembers sends the live membership, then every change of it, until ctx ends
// (then it closes the channel). The watch asks for a member with a leader, so that a
// member that lost its quorum cannot make it wait silently: the loss arrives as a
// Change with Err, and the watch resumes when etcd answers again. Each change carries
// the whole set, so a slow reader may skip values but never sees a wrong one: sends
// replace an unread value.
func (c *Client) WatchMembers(ctx context.Context) <-chan Change {
	out := make(chan Change, 1)
	go c.watchMembers(ctx, out)
	return out
}

func (c *Client) watchMembers(ctx context.Context, out chan Change) {
	defer close(out)
	send := func(ch Change) {
		// Replace an unread value: the reader wants the newest whole set.
		select {
		case <-out:
		default:
		}
		out <- ch
	}
	retry := c.ttl / 3
	var last Members
	for ctx.Err() == nil {
		cur, err := c.Members(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			send(Change{Members: last, Err: err})
			sleep(ctx, retry)
			continue
		}
		send(diff(last, cur))
		last = cur
		err = c.follow(ctx, &last, send)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrUnreachable) {
			send(Change{Members: last, Err: err})
		} else {
			// A compacted revision or a cancelled watch: read the whole set again.
			c.log.Warn("pool members watch ended", "err", err)
		}
		sleep(ctx, retry)
	}
}

// follow applies watch events on the members prefix after last.Revision to last and
// sends each change, until the watch fails; it returns why. A watch whose endpoints are
// all down waits silently (the client reconnects behind it; even Watch itself waits for
// the server to create it), so beside it a quorum read every TTL checks that etcd
// answers, and ends the watch when it does not.
func (c *Client) follow(ctx context.Context, last *Members, send func(Change)) error {
	wctx, cancel := context.WithCancelCause(clientv3.WithRequireLeader(ctx))
	defer cancel(nil)
	go c.checkAnswers(wctx, cancel)
	w := c.etcd.Watch(wctx, c.keys.members(), clientv3.WithPrefix(), clientv3.WithRev(last.Revision+1))
	for resp := range w {
		if err := resp.Err(); err != nil {
			return fmt.Errorf("watch pool members: %w", classify(err))
		}
		next := Members{Live: maps.Clone(last.Live), Revision: resp.Header.Revision}
		for _, ev := range resp.Events {
			host, rec := c.member(ev.Kv)
			if ev.Type == clientv3.EventTypeDelete {
				delete(next.Live, host)
			} else {
				next.Live[host] = rec
			}
		}
		if len(resp.Events) > 0 {
			send(diff(*last, next))
		}
		*last = next
	}
	return fmt.Errorf("watch pool members: %w", classify(context.Cause(wctx)))
}

// checkAnswers reads the members' count with a quorum every TTL until ctx ends; when a
// read fails, it cancels the watch with the read's error.
func (c *Client) checkAnswers(ctx context.Context, cancel context.CancelCauseFunc) {
	t := time.NewTicker(c.ttl)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, rcancel := context.WithTimeout(ctx, c.ttl/3)
		_, err := c.etcd.Get(rctx, c.keys.members(), clientv3.WithCountOnly())
		rcancel()
		if err != nil && ctx.Err() == nil {
			cancel(fmt.Errorf("check that etcd answers: %w", classify(err)))
			return
		}
	}
}

// diff returns cur with the hosts that joined and left since prev.
func diff(prev, cur Members) Change {
	ch := Change{Members: cur}
	for h := range cur.Live {
		if _, ok := prev.Live[h]; !ok && prev.Live != nil {
			ch.Joined = append(ch.Joined, h)
		}
	}
	for h := range prev.Live {
		if _, ok := cur.Live[h]; !ok {
			ch.Left = append(ch.Left, h)
		}
	}
	slices.Sort(ch.Joined)
	slices.Sort(ch.Left)
	return ch
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
