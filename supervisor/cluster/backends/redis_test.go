package backends

import (
	"context"
	"testing"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/testhelper"
	"github.com/redis/go-redis/v9"
)

// TestRedis_RenewAfterScriptsAreGone: a Redis that restarted with its data
// (AOF) but without its scripts (or after SCRIPT FLUSH) still renews the
// keys at the first try: a failed renewal is one of the two the fence
// allows.
func TestRedis_RenewAfterScriptsAreGone(t *testing.T) {
	s := testhelper.StartRedis(t)
	b, err := openRedis("redis://"+s.Addr+"/0", "node-a#0123456789abcdef", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	if a, err := b.TryAcquire(ctx, "beat"); err != nil || !a.Held {
		t.Fatalf("acquire: %+v %v", a, err)
	}
	if lost, err := b.Renew(ctx, []string{"beat"}); err != nil || len(lost) != 0 {
		t.Fatalf("first renewal: lost %v, %v", lost, err)
	}
	admin := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer admin.Close()
	if err := admin.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if lost, err := b.Renew(ctx, []string{"beat"}); err != nil || len(lost) != 0 {
		t.Errorf("renewal after the scripts went: lost %v, %v", lost, err)
	}
}
