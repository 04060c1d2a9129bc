//go:build !race

package xmlrpc

const raceBuild = false
