//go:build linux && !amd64 && !arm64

package proc

// Elsewhere the daemon forks a child bound for a cgroup itself (see
// rawfork.go).
func rawForkUsable() bool { return false }

func rawCgroupSpawn(*spawnRequest, []int, int) spawnReply { return spawnReply{NoCgroup: true} }
