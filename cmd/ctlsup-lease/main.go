// Command ctlsup-lease is ctlsupd's link to a cluster's coordination
// service (etcd, Redis, PostgreSQL). ctlsupd starts it when its [cluster]
// table names a backend, and talks to it on stdin and stdout; it exits
// when ctlsupd closes its stdin.
//
//	ctlsup-lease BACKEND-URL NODE TTL-SECONDS
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ctlsup/ctlsup/supervisor/cluster"
	"github.com/ctlsup/ctlsup/supervisor/cluster/backends"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: ctlsup-lease BACKEND-URL NODE TTL-SECONDS (ctlsupd starts it)")
		os.Exit(2)
	}
	ttl, err := strconv.Atoi(os.Args[3])
	if err != nil || ttl < 1 {
		fmt.Fprintln(os.Stderr, "ctlsup-lease: TTL-SECONDS must be a positive number")
		os.Exit(2)
	}
	b, err := backends.Open(os.Args[1], os.Args[2], time.Duration(ttl)*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctlsup-lease:", err)
		os.Exit(1)
	}
	if err := cluster.Serve(b, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ctlsup-lease:", err)
	}
}
