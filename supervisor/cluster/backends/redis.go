package backends

import (
	"context"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/cluster"
	"github.com/redis/go-redis/v9"
)

// redisBackend holds a key as SET NX PX with this node's name as its
// value, renewed and deleted only by a script that checks the value
// first. It is safe while that one Redis keeps its data: a failover to a
// replica that had not received the SET can grant the key twice.
type redisBackend struct {
	cli  *redis.Client
	node string
	ttl  time.Duration
}

func openRedis(rawURL, node string, ttl time.Duration) (cluster.Backend, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	opt.MaxRetries = -1 // a retried renewal would count from the wrong moment
	opt.DialTimeout = 2 * time.Second
	return &redisBackend{cli: redis.NewClient(opt), node: node, ttl: ttl}, nil
}

func redisKey(key string) string { return keyPrefix + key }

var (
	// extend sets the key's TTL if this node holds it: 1, else 0.
	extend = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
	// drop deletes the key if this node holds it.
	drop = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
)

func (b *redisBackend) TryAcquire(ctx context.Context, key string) (cluster.Attempt, error) {
	k := redisKey(key)
	ok, err := b.cli.SetNX(ctx, k, b.node, b.ttl).Result()
	if err != nil {
		return cluster.Attempt{}, err
	}
	if ok {
		return cluster.Attempt{Held: true}, nil
	}
	// Held: by this node (a previous daemon of it) if the script can
	// extend it, else by whoever it names.
	n, err := extend.Run(ctx, b.cli, []string{k}, b.node, b.ttl.Milliseconds()).Int()
	if err != nil {
		return cluster.Attempt{}, err
	}
	if n == 1 {
		return cluster.Attempt{Held: true, Mine: true}, nil
	}
	holder, err := b.cli.Get(ctx, k).Result()
	if err != nil && err != redis.Nil {
		return cluster.Attempt{}, err
	}
	return cluster.Attempt{Holder: holder}, nil
}

func (b *redisBackend) Renew(ctx context.Context, keys []string) ([]string, error) {
	pipe := b.cli.Pipeline()
	cmds := make([]*redis.Cmd, len(keys))
	for i, k := range keys {
		// EVAL, not EVALSHA: in a pipeline a NOSCRIPT (Redis restarted,
		// SCRIPT FLUSH) comes back too late for go-redis to send the
		// script, and the renewal would fail. The script is short.
		cmds[i] = extend.Eval(ctx, pipe, []string{redisKey(k)}, b.node, b.ttl.Milliseconds())
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	var lost []string
	for i, c := range cmds {
		if n, err := c.Int(); err != nil || n != 1 {
			lost = append(lost, keys[i])
		}
	}
	return lost, nil
}

func (b *redisBackend) Release(ctx context.Context, key string) error {
	return drop.Run(ctx, b.cli, []string{redisKey(key)}, b.node).Err()
}

func (b *redisBackend) Close() error { return b.cli.Close() }
