package proc

import (
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// TestSpawnWire_RoundTrip: what the daemon encodes the helper decodes as
// it was, bytes that are not UTF-8 included (JSON could not carry them).
func TestSpawnWire_RoundTrip(t *testing.T) {
	reqs := []spawnRequest{
		{Path: "/bin/sleep", Argv: []string{"sleep", "1"}, Env: []string{"A=1", "B=\xff\xfe"}, Setpgid: true, Cgroup: true},
		{Path: "/x", Dir: "/srv/app", Argv: []string{""}, Env: []string{}, Setsid: true,
			Cred: &syscall.Credential{Uid: 33, Gid: 33, Groups: []uint32{4, 24, 1 << 31}}},
		{Path: "/y", Argv: []string{"y"}, Env: []string{}, Cred: &syscall.Credential{Uid: 1, Gid: 2, NoSetGroups: true}},
	}
	for _, want := range reqs {
		var got spawnRequest
		if err := got.decode(want.encode(nil)); err != nil {
			t.Fatalf("%+v: %v", want, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("sent %+v, decoded %+v", want, got)
		}
	}
	long := spawnReply{Err: strings.Repeat("/very/long/path", 1000)}
	var got spawnReply
	if b := long.encode(nil); len(b) > 4096 {
		t.Errorf("a reply with a long error is %d bytes: more than the daemon reads", len(b))
	} else if err := got.decode(b); err != nil || !strings.HasPrefix(long.Err, got.Err) {
		t.Errorf("a long error decoded as %.40q (%v)", got.Err, err)
	}
	for _, want := range []spawnReply{{Pid: 4242}, {Errno: int(syscall.ENOENT), Step: stepChdir, Forked: true, Pid: 7}, {Err: "bad: \xff", NoCgroup: true}} {
		var got spawnReply
		if err := got.decode(want.encode(nil)); err != nil || got != want {
			t.Errorf("sent %+v, decoded %+v (%v)", want, got, err)
		}
	}
}

// TestSpawnWire_Malformed: every truncation of a message, a lying count
// and trailing bytes are refused, without a panic or a huge allocation.
func TestSpawnWire_Malformed(t *testing.T) {
	req := spawnRequest{Path: "/bin/sleep", Argv: []string{"sleep", "1"}, Env: []string{"A=1"},
		Cred: &syscall.Credential{Uid: 1, Gid: 1, Groups: []uint32{5}}}
	b := req.encode(nil)
	for n := range len(b) {
		var got spawnRequest
		if err := got.decode(b[:n]); err == nil {
			t.Errorf("a request cut at %d of %d bytes decoded: %+v", n, len(b), got)
		}
	}
	var got spawnRequest
	if err := got.decode(append(b, 0)); err == nil {
		t.Error("a request with a trailing byte decoded")
	}
	lying := spawnRequest{Path: "/p", Argv: []string{"p"}}
	lb := lying.encode(nil)
	// The argv count follows the version, the flags and two strings.
	at := 2 + 4 + len("/p") + 4
	lb[at], lb[at+1], lb[at+2], lb[at+3] = 0xff, 0xff, 0xff, 0x7f
	allocs := testing.AllocsPerRun(10, func() {
		if err := got.decode(lb); err == nil {
			t.Error("a request whose argv count exceeds the message decoded")
		}
	})
	if allocs > 2 {
		t.Errorf("decoding a lying count allocated %.0f times", allocs)
	}
	rep := spawnReply{Pid: 1, Err: "x"}
	rb := rep.encode(nil)
	for n := range len(rb) {
		var r spawnReply
		if err := r.decode(rb[:n]); err == nil {
			t.Errorf("a reply cut at %d of %d bytes decoded", n, len(rb))
		}
	}
	wrongVersion := append([]byte{spawnWireVersion + 1}, rb[1:]...)
	var r spawnReply
	if err := r.decode(wrongVersion); err == nil {
		t.Error("a reply of another version decoded")
	}
}
