package backends

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/cluster"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdBackend holds keys with one lease per node: a key is taken with a
// create-revision compare (as etcd's concurrency.Mutex does) and attached
// to the lease, which the manager renews with KeepAliveOnce. The
// concurrency package's session renews on a schedule of its own, which
// fencing cannot count on: the manager must know when each renewal was
// sent.
type etcdBackend struct {
	cli  *clientv3.Client
	node string
	ttl  int64

	// freshMu makes freshLease one at a time: requests run concurrently,
	// and two that each found the lease expired would grant two, the
	// keys of one then lost at the next renewal.
	freshMu sync.Mutex
	mu      sync.Mutex
	lease   clientv3.LeaseID // 0 until granted, again after it expired
}

func openEtcd(u *url.URL, node string, ttl time.Duration) (cluster.Backend, error) {
	var eps []string
	for _, h := range strings.Split(u.Host, ",") {
		eps = append(eps, "http://"+h)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: zap.NewNop(), DialKeepAliveTime: 2 * time.Second, DialKeepAliveTimeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	return &etcdBackend{cli: cli, node: node, ttl: max(int64(ttl/time.Second), 1)}, nil
}

func etcdKey(key string) string { return "/" + keyPrefix + key }

// freshLease renews this node's lease, or grants one: either way it lasts
// a TTL from now on, whatever it was attached to before.
func (b *etcdBackend) freshLease(ctx context.Context) (clientv3.LeaseID, bool, error) {
	b.freshMu.Lock()
	defer b.freshMu.Unlock()
	b.mu.Lock()
	id := b.lease
	b.mu.Unlock()
	if id != 0 {
		_, err := b.cli.KeepAliveOnce(ctx, id)
		if err == nil {
			return id, false, nil
		}
		if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return 0, false, err
		}
	}
	g, err := b.cli.Grant(ctx, b.ttl)
	if err != nil {
		return 0, false, err
	}
	b.mu.Lock()
	b.lease = g.ID
	b.mu.Unlock()
	return g.ID, id != 0, nil
}

func (b *etcdBackend) TryAcquire(ctx context.Context, key string) (cluster.Attempt, error) {
	id, _, err := b.freshLease(ctx)
	if err != nil {
		return cluster.Attempt{}, err
	}
	k := etcdKey(key)
	resp, err := b.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, b.node, clientv3.WithLease(id))).
		Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return cluster.Attempt{}, err
	}
	if resp.Succeeded {
		return cluster.Attempt{Held: true}, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return cluster.Attempt{}, nil // gone meanwhile: next time
	}
	kv := kvs[0]
	if string(kv.Value) != b.node {
		return cluster.Attempt{Holder: string(kv.Value)}, nil
	}
	if clientv3.LeaseID(kv.Lease) == id {
		return cluster.Attempt{Held: true, Mine: true}, nil
	}
	// A previous daemon of this node holds it under its own lease: move
	// it to ours, unless it changed hands meanwhile.
	resp, err = b.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", kv.CreateRevision), clientv3.Compare(clientv3.Value(k), "=", b.node)).
		Then(clientv3.OpPut(k, b.node, clientv3.WithLease(id))).Commit()
	if err != nil {
		return cluster.Attempt{}, err
	}
	return cluster.Attempt{Held: resp.Succeeded, Mine: resp.Succeeded}, nil
}

func (b *etcdBackend) Renew(ctx context.Context, keys []string) ([]string, error) {
	id, regranted, err := b.freshLease(ctx)
	if err != nil {
		return nil, err
	}
	if regranted {
		return keys, nil // the old lease expired, and its keys with it
	}
	var ops []clientv3.Op
	for _, k := range keys {
		ops = append(ops, clientv3.OpGet(etcdKey(k)))
	}
	resp, err := b.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, err
	}
	var lost []string
	for i, r := range resp.Responses {
		kvs := r.GetResponseRange().Kvs
		if len(kvs) == 0 || string(kvs[0].Value) != b.node || clientv3.LeaseID(kvs[0].Lease) != id {
			lost = append(lost, keys[i])
		}
	}
	return lost, nil
}

func (b *etcdBackend) Release(ctx context.Context, key string) error {
	k := etcdKey(key)
	_, err := b.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(k), "=", b.node)).
		Then(clientv3.OpDelete(k)).Commit()
	return err
}

func (b *etcdBackend) Close() error { return b.cli.Close() }
