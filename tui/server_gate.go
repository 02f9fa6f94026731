package tui

import (
	"errors"
	"fmt"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charmbracelet/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// Defaults of the pre-authentication limits (ServerConfig). The deadline
// leaves time to type a key's passphrase, as OpenSSH's LoginGraceTime
// does; the caps are far above what a team opens at once, and far below
// what would exhaust the server's file descriptors or goroutines.
const (
	defaultHandshakeTimeout   = 60 * time.Second
	defaultMaxUnauthenticated = 64
	defaultMaxUnauthPerSource = 16
)

// connGate keeps connections that have not authenticated in check: each
// gets a deadline to authenticate by (a silent TCP connection is closed
// then, the SSH handshake never starts otherwise), and at most maxTotal of
// them, maxPerSource from one address, are open at once; more are closed
// at once. Every refusal is logged, one line per connection.
type connGate struct {
	timeout      time.Duration
	maxTotal     int
	maxPerSource int
	logger       *log.Logger

	mu       sync.Mutex
	total    int
	bySource map[string]int
}

func newConnGate(timeout time.Duration, maxTotal, maxPerSource int, logger *log.Logger) *connGate {
	return &connGate{timeout: timeout, maxTotal: maxTotal, maxPerSource: maxPerSource, logger: logger, bySource: map[string]int{}}
}

type connGateKey struct{}

// gatedConn is a connection counted by the gate until it authenticates or
// closes.
type gatedConn struct {
	net.Conn
	gate    *connGate
	source  string
	authed  atomic.Bool
	timer   *time.Timer
	release sync.Once
}

// sourceOf is the host part of a remote address ("127.0.0.1").
func sourceOf(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// accept is the server's ConnCallback: it runs for every TCP connection
// before the SSH handshake. nil closes the connection.
func (g *connGate) accept(ctx ssh.Context, c net.Conn) net.Conn {
	src := sourceOf(c.RemoteAddr())
	g.mu.Lock()
	total, here := g.total, g.bySource[src]
	full := total >= g.maxTotal || here >= g.maxPerSource
	if !full {
		g.total++
		g.bySource[src]++
	}
	g.mu.Unlock()
	if full {
		g.logger.Printf("refused connection from %s: %d connections waiting to authenticate (%d from this address; limits %d and %d per address)",
			c.RemoteAddr(), total, here, g.maxTotal, g.maxPerSource)
		return nil
	}
	gc := &gatedConn{Conn: c, gate: g, source: src}
	if g.timeout > 0 {
		gc.timer = time.AfterFunc(g.timeout, func() {
			if !gc.authed.Load() {
				g.logger.Printf("closed connection from %s: no authentication within %s", c.RemoteAddr(), g.timeout)
				gc.Close()
			}
		})
	}
	ctx.SetValue(connGateKey{}, gc)
	return gc
}

// authenticated takes the connection out of the gate's count and stops
// its deadline; the session's own idle timeout governs it from now on.
func (c *gatedConn) authenticated() {
	if c.authed.CompareAndSwap(false, true) {
		c.stop()
	}
}

func (c *gatedConn) stop() {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.release.Do(func() {
		g := c.gate
		g.mu.Lock()
		g.total--
		if g.bySource[c.source]--; g.bySource[c.source] <= 0 {
			delete(g.bySource, c.source)
		}
		g.mu.Unlock()
	})
}

func (c *gatedConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// waiting is the number of connections that have not authenticated.
func (g *connGate) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

// markAuthenticated tells the gate that the connection of ctx got past
// authentication (it opened a channel, which only an authenticated client
// can).
func markAuthenticated(ctx ssh.Context) {
	if gc, ok := ctx.Value(connGateKey{}).(*gatedConn); ok {
		gc.authenticated()
	}
}

// failed is the server's ConnectionFailedCallback: a handshake that did
// not end in an authenticated connection (refused keys, passwords, a
// client that gave up, the deadline).
func (g *connGate) failed(c net.Conn, err error) {
	if errors.Is(err, net.ErrClosed) {
		return // closed by the deadline, which said so
	}
	g.logger.Printf("refused connection from %s: %v", c.RemoteAddr(), err)
}

// fingerprint is a key's SHA256 fingerprint as OpenSSH prints it.
func fingerprint(k gossh.PublicKey) string {
	if k == nil {
		return "no key"
	}
	return fmt.Sprintf("%s %s", k.Type(), gossh.FingerprintSHA256(k))
}
