package lab

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdClient connects to the lab's three-member etcd cluster (scripts/lab.d/etcd.sh) and
// checks that every member answers.
func etcdClient(t *testing.T) (*clientv3.Client, []string) {
	t.Helper()
	eps := strings.Split(Need(t, "ETCD"), ",")
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 3 * time.Second})
	if err != nil {
		Missing(t, "etcd", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, eps
}

// TestEtcdClusterServes: three members, one leader that all agree on, and a write that
// every member then serves.
func TestEtcdClusterServes(t *testing.T) {
	c, eps := etcdClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leaders := map[uint64]bool{}
	for _, ep := range eps {
		st, err := c.Status(ctx, ep)
		if err != nil {
			Missing(t, "etcd member "+ep, err)
		}
		leaders[st.Leader] = true
	}
	if len(leaders) != 1 {
		t.Fatalf("members disagree on the leader: %v", leaders)
	}
	key := fmt.Sprintf("/vcrcovery-lab-test/serves/%d", time.Now().UnixNano())
	if _, err := c.Put(ctx, key, "v1"); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	defer c.Delete(context.Background(), key)
	for _, ep := range eps {
		one, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		r, err := one.Get(ctx, key)
		one.Close()
		if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v1" {
			t.Fatalf("member %s: get %s = %v, %v; want v1", ep, key, r, err)
		}
	}
}

// TestEtcdClaimExactlyOne: the pool's ownership claim is one transaction on the key's
// CreateRevision; of 8 racing claimers exactly one wins, every round.
func TestEtcdClaimExactlyOne(t *testing.T) {
	c, _ := etcdClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lease, err := c.Grant(ctx, 10)
	if err != nil {
		Missing(t, "etcd", err)
	}
	defer c.Revoke(context.Background(), lease.ID)
	prefix := fmt.Sprintf("/vcrcovery-lab-test/claim/%d/", time.Now().UnixNano())
	defer c.Delete(context.Background(), prefix, clientv3.WithPrefix())
	for round := 0; round < 20; round++ {
		key := fmt.Sprintf("%s%d", prefix, round)
		var wg sync.WaitGroup
		won := make([]bool, 8)
		errs := make([]error, 8)
		for i := range won {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := c.Txn(ctx).
					If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
					Then(clientv3.OpPut(key, fmt.Sprint(i), clientv3.WithLease(lease.ID))).
					Commit()
				won[i], errs[i] = err == nil && r.Succeeded, err
			}()
		}
		wg.Wait()
		n := 0
		for i, w := range won {
			if errs[i] != nil {
				t.Fatalf("round %d claimer %d: %v", round, i, errs[i])
			}
			if w {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("round %d: %d claims won, want exactly 1", round, n)
		}
	}
}

// TestEtcdLeaseExpiryIsSeen: a key held by a lease that nobody keeps alive is deleted
// when the lease expires, and a watcher sees the DELETE: the pool's failure detector.
func TestEtcdLeaseExpiryIsSeen(t *testing.T) {
	c, _ := etcdClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	lease, err := c.Grant(ctx, 2)
	if err != nil {
		Missing(t, "etcd", err)
	}
	key := fmt.Sprintf("/vcrcovery-lab-test/member/%d", time.Now().UnixNano())
	put, err := c.Put(ctx, key, "alive", clientv3.WithLease(lease.ID))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Watch(ctx, key, clientv3.WithRev(put.Header.Revision+1))
	for resp := range w {
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return
			}
		}
	}
	t.Fatalf("no DELETE of %s before the deadline: the lease (TTL 2 s) did not expire: %v", key, ctx.Err())
}

// TestEtcdOneMemberDown: with one member of three stopped (scripts/lab etcd-member), the
// cluster still takes writes; the member rejoins with its data and catches up.
func TestEtcdOneMemberDown(t *testing.T) {
	c, eps := etcdClient(t)
	root := Root(t)
	Run(t, 30*time.Second, root+"/scripts/lab", "etcd-member", "stop", "3")
	restarted := false
	restart := func() {
		if !restarted {
			restarted = true
			Run(t, 30*time.Second, root+"/scripts/lab", "etcd-member", "start", "3")
		}
	}
	defer restart()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	key := fmt.Sprintf("/vcrcovery-lab-test/quorum/%d", time.Now().UnixNano())
	defer c.Delete(context.Background(), key)
	if _, err := c.Put(ctx, key, "two-of-three"); err != nil {
		t.Fatalf("put with one member down: %v", err)
	}
	restart()
	one, err := clientv3.New(clientv3.Config{Endpoints: []string{eps[2]}, DialTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	for {
		r, err := one.Get(ctx, key)
		if err == nil && len(r.Kvs) == 1 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("member 3 did not catch up after its restart: %v, %v", r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
