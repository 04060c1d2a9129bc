package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/ctlsup/ctlsup/api"
)

// Version is ctlsupd's version, reported by supervisorctl's `version`.
const Version = "0.1.0"

// control serves the XML-RPC API on the control socket (and http_listen).
// Its handler is swapped when a reload replaces the engine.
type control struct {
	handler atomic.Pointer[api.Server]
	ready   chan struct{} // closed once a handler is set
	once    sync.Once
	servers []*http.Server
	socket  string
	conns   *busyConns
	// bigAnswer is poked after an answer of bigAnswerBytes or more, whose
	// buffers are free heap once it is out (see keepStatus).
	bigAnswer chan struct{}
}

// ServeHTTP serves with the current engine's API. The socket serves from
// before the engine is open (after an upgrade, clients have waited in its
// backlog): a request that comes first waits for the engine.
func (c *control) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := c.handler.Load()
	if h == nil {
		select {
		case <-c.ready:
			h = c.handler.Load()
		case <-r.Context().Done():
			return
		}
	}
	cw := &countingWriter{ResponseWriter: w}
	h.ServeHTTP(cw, r)
	if cw.n >= bigAnswerBytes {
		select {
		case c.bigAnswer <- struct{}{}:
		default:
		}
	}
}

// countingWriter counts what an answer writes.
type countingWriter struct {
	http.ResponseWriter
	n int
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += n
	return n, err
}

// Unwrap gives http.ResponseController the writer below.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a flush on: the API flushes the answer to a shutdown
// before it acts.
func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// openControl listens on the configured socket and TCP address. It runs
// before any program starts, so the socket's mode is in place first.
func (m *Main) openControl(passed net.Listener) error {
	d := m.Config.Daemon
	c := &control{socket: d.Control.Socket, conns: newBusyConns(), ready: make(chan struct{}), bigAnswer: make(chan struct{}, 1)}
	var listeners []net.Listener
	var l net.Listener = passed
	addr := d.Control.Socket
	if il, was := m.inheritedListener("control", d.Control.Socket); il != nil {
		l, addr = il, was
	} else if l == nil {
		ul, err := api.ListenUnix(d.Control.Socket, d.Control.SocketMode, d.Control.SocketOwner)
		if err != nil {
			return err
		}
		l = ul
	} else {
		addr = systemdAddr
	}
	if addr == systemdAddr {
		c.socket = "" // systemd owns a socket it passed
	}
	m.listenAddr["control"] = addr
	l = &pausable{Listener: api.LimitListener(l, api.MaxConns, m.connsFull), conns: c.conns}
	listeners = append(listeners, l)
	m.listeners["control"] = l
	auth := map[net.Listener]api.Credentials{}
	user, pass := d.Control.SocketAuth()
	auth[l] = api.Credentials{Username: user, Password: pass}
	if addr := d.Control.HTTPListen; addr != "" {
		user, pass := d.Control.HTTPAuth()
		if err := api.CheckTCP(addr, user, pass); err != nil {
			l.Close()
			return err
		}
		tl, _ := m.inheritedListener("tcp", addr)
		m.listenAddr["tcp"] = addr
		if tl == nil {
			var err error
			if tl, err = net.Listen("tcp", addr); err != nil {
				l.Close()
				return err
			}
		}
		tl = &pausable{Listener: api.LimitListener(tl, api.MaxConns, m.connsFull), conns: c.conns}
		auth[tl] = api.Credentials{Username: user, Password: pass}
		listeners = append(listeners, tl)
		m.listeners["tcp"] = tl
	}
	for _, l := range listeners {
		creds := auth[l]
		srv := &http.Server{Handler: c, ConnState: c.conns.track,
			// Each listener asks for its own credentials.
			ConnContext: func(ctx context.Context, conn net.Conn) context.Context {
				ctx = api.WithStreaming(ctx, func() { c.conns.streaming(conn) })
				return api.WithCredentials(ctx, creds)
			},
			ReadHeaderTimeout: api.ReadHeaderTimeout, ReadTimeout: api.ReadTimeout, IdleTimeout: api.IdleTimeout}
		c.servers = append(c.servers, srv)
		go func() {
			if err := srv.Serve(m.fdReserve.listen(l)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.Logger.Error("control server stopped", "err", err)
			}
		}()
	}
	m.control = c
	return nil
}

// newAPI builds the API over the current engine and makes it the one served.
func (m *Main) newAPI() {
	d := m.Config.Daemon
	s := api.NewServer(m.Supervisor)
	s.Version = Version
	s.MainLog = d.LogFile
	s.Logger = m.Logger
	s.Shutdown = func() { m.ask(requestShutdown) }
	s.Restart = func() { m.ask(requestRestart) }
	s.Upgrade = func() (func(), error) {
		if err := m.checkUpgrade(); err != nil {
			return nil, err
		}
		return func() { m.ask(requestUpgrade) }, nil
	}
	m.control.handler.Store(s)
	m.control.once.Do(func() { close(m.control.ready) })
}

// closeControl stops serving and removes the socket, as supervisord does.
func (m *Main) closeControl() {
	if m.control == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, srv := range m.control.servers {
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
	if m.control.socket != "" {
		os.Remove(m.control.socket)
	}
}

func (m *Main) closeMetrics() {
	if m.metricsServer != nil {
		m.metricsServer.Close()
	}
}

// activationListeners returns the sockets systemd passed, by their
// FileDescriptorName ("control", "metrics"); empty without socket
// activation.
func activationListeners(log *slog.Logger) map[string]net.Listener {
	out := map[string]net.Listener{}
	named, err := activation.ListenersWithNames()
	if err != nil {
		log.Warn("ignoring systemd socket activation", "err", err)
		return out
	}
	for name, ls := range named {
		if len(ls) > 0 && ls[0] != nil {
			out[name] = ls[0]
		}
	}
	return out
}

// connsFull warns, at most once a minute, that a listener held
// api.MaxConns connections and closed one to let another in.
func (m *Main) connsFull() {
	now := time.Now().UnixNano()
	last := m.fullWarned.Load()
	if now-last < int64(time.Minute) || !m.fullWarned.CompareAndSwap(last, now) {
		return
	}
	m.Logger.Warn("control connections at their limit: one was closed to let another in (unanswered ones first, then new ones, then the least recently used)", "limit", api.MaxConns)
}
