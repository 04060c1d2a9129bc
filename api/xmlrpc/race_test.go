//go:build race

package xmlrpc

// raceBuild: the race detector's build copies a grown buffer through one
// more allocation (bytes.Buffer's growth is not fused into one there).
const raceBuild = true
