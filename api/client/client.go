// Package client calls a supervisord-compatible server (ctlsupd or
// supervisord itself) over XML-RPC. It speaks only the protocol.
package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ctlsup/ctlsup/api/xmlrpc"
)

// ErrUnauthorized is a 401 answer: credentials missing or wrong.
var ErrUnauthorized = errors.New("server requires authentication")

// Client talks to one server. Its connections are kept alive between calls,
// as supervisorctl's are within one command.
type Client struct {
	URL                string // unix:///path or http://host:port
	Username, Password string

	http *http.Client
	base string // http://host[:port] used in requests
	bad  error  // the URL's scheme is unknown: every call fails with it
}

// SchemeError is a server URL that is neither unix:// nor http://.
type SchemeError string

func (e SchemeError) Error() string {
	return fmt.Sprintf("unsupported server URL %q (use unix:///path or http://host:port)", string(e))
}

// New returns a client for url ("unix:///run/ctlsup/ctlsup.sock" or
// "http://127.0.0.1:9001"). For a URL of another scheme it returns a
// SchemeError, and a client whose calls return it.
func New(url, username, password string) (*Client, error) {
	c := &Client{URL: url, Username: username, Password: password}
	tr := &http.Transport{MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second, DisableCompression: true}
	switch {
	case strings.HasPrefix(url, "unix://"):
		path := strings.TrimPrefix(url, "unix://")
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		c.base = "http://localhost"
	case strings.HasPrefix(url, "http://"):
		c.base = strings.TrimSuffix(url, "/")
	default:
		// A client still, whose every call fails so: supervisorctl
		// reports the URL at its first call, not before.
		c.bad = SchemeError(url)
	}
	c.http = &http.Client{Transport: tr}
	return c, c.bad
}

// Call invokes method. A fault comes back as a *xmlrpc.Fault error;
// connection errors wrap the syscall error (syscall.ENOENT when the socket
// file is missing, syscall.ECONNREFUSED when nothing listens).
func (c *Client) Call(method string, params ...any) (any, error) {
	if c.bad != nil {
		return nil, c.bad
	}
	body, err := xmlrpc.EncodeCall(method, params...)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, c.base+"/RPC2", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("Accept", "text/xml")
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, ErrUnauthorized
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil, &ProtocolError{URL: c.base + "/RPC2", Status: resp.Status}
	}
	// Read the answer in one piece: 1000 processes are about a megabyte.
	body = make([]byte, 0, max(resp.ContentLength, 512))
	buf := bytes.NewBuffer(body)
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	return xmlrpc.DecodeResponse(buf)
}

// Get opens a streaming GET (for /logtail and /mainlogtail).
func (c *Client) Get(ctx context.Context, path string) (*http.Response, error) {
	if c.bad != nil {
		return nil, c.bad
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	c.auth(req)
	return c.http.Do(req)
}

func (c *Client) auth(req *http.Request) {
	if c.Username != "" && c.Password != "" {
		req.SetBasicAuth(c.Username, c.Password)
	}
}

// Close drops idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// ProtocolError is an HTTP answer other than 200.
type ProtocolError struct {
	URL, Status string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("<ProtocolError for %s: %s>", e.URL, e.Status)
}
