package tui

import (
	"errors"
	"fmt"
	"log"
	"net"
	"slices"
	"strings"
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
	open     map[string]*gatedConn // by remote address, until reported or a while after closing
}

func newConnGate(timeout time.Duration, maxTotal, maxPerSource int, logger *log.Logger) *connGate {
	return &connGate{timeout: timeout, maxTotal: maxTotal, maxPerSource: maxPerSource, logger: logger,
		bySource: map[string]int{}, open: map[string]*gatedConn{}}
}

type connGateKey struct{}

// gatedConn is a connection counted by the gate until it authenticates or
// closes.
type gatedConn struct {
	net.Conn
	gate    *connGate
	source  string
	key     string // the remote address, the connection's key in connGate.open
	authed  atomic.Bool
	timer   *time.Timer
	release sync.Once
	closed  sync.Once

	// What the client tried, for the log line of a refused connection.
	mu         sync.Mutex
	user       string
	methods    []string // authentication methods tried, in order of first use
	keyRefused bool     // the public-key handler refused (and logged) the key of the attempt under way
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
	gc := &gatedConn{Conn: c, gate: g, source: src, key: c.RemoteAddr().String()}
	g.mu.Lock()
	g.open[gc.key] = gc
	g.mu.Unlock()
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
	// The SSH library closes a connection whose handshake failed before
	// it reports the failure (failed): the record stays for that report,
	// and a little while more.
	c.closed.Do(func() { time.AfterFunc(closedRecordTTL, c.forget) })
	return c.Conn.Close()
}

// closedRecordTTL is how long the gate keeps the record of a closed
// connection for failed to report.
const closedRecordTTL = 5 * time.Second

// forget drops the connection's record.
func (c *gatedConn) forget() {
	g := c.gate
	g.mu.Lock()
	if g.open[c.key] == c {
		delete(g.open, c.key)
	}
	g.mu.Unlock()
}

// gatedConnOf is the gate's record of the connection of ctx (nil for a
// connection that did not pass through the gate).
func gatedConnOf(ctx ssh.Context) *gatedConn {
	if ctx == nil {
		return nil
	}
	gc, _ := ctx.Value(connGateKey{}).(*gatedConn)
	return gc
}

// attempts returns the user the client last asked for and the
// authentication methods it tried.
func (c *gatedConn) attempts() (user string, methods []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user, slices.Clone(c.methods)
}

// waiting is the number of connections that have not authenticated.
func (g *connGate) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

// markAuthenticated tells the gate that the connection of ctx got past
// authentication (its key was accepted, or it opened a channel, which
// only an authenticated client can).
func markAuthenticated(ctx ssh.Context) {
	if gc := gatedConnOf(ctx); gc != nil {
		gc.authenticated()
	}
}

// keyRefused notes that the public-key handler refused, and logged with
// its fingerprint, the key of the authentication attempt under way, so
// that authAttempt does not log the attempt a second time.
func keyRefused(ctx ssh.Context) {
	if gc := gatedConnOf(ctx); gc != nil {
		gc.mu.Lock()
		gc.keyRefused = true
		gc.mu.Unlock()
	}
}

// authAttempt is the SSH server's AuthLogCallback for the connection of
// ctx: it runs after every authentication attempt, and logs each refused
// one with the remote address, the user and the reason. A refused key is
// logged by the public-key handler, which has the key (keyRefused); an
// accepted one by acceptedKey once the client has proved it holds it. The
// "none" method every client tries first, to learn which methods the
// server takes, is recorded but not logged.
func (g *connGate) authAttempt(ctx ssh.Context, conn gossh.ConnMetadata, method string, err error) {
	logged := false
	if gc := gatedConnOf(ctx); gc != nil {
		gc.mu.Lock()
		gc.user = conn.User()
		if !slices.Contains(gc.methods, method) && len(gc.methods) < 8 {
			gc.methods = append(gc.methods, method)
		}
		logged, gc.keyRefused = gc.keyRefused, false
		gc.mu.Unlock()
	}
	switch {
	case err == nil || method == "none" || logged:
	case method == "password" || method == "keyboard-interactive":
		g.logger.Printf("refused %s attempt from %s (user %q): passwords are not accepted, only the allowlist's public keys", method, conn.RemoteAddr(), conn.User())
	case method == "publickey":
		g.logger.Printf("refused key from %s (user %q): %v", conn.RemoteAddr(), conn.User(), err)
	default:
		g.logger.Printf("refused %q attempt from %s (user %q): %v", method, conn.RemoteAddr(), conn.User(), err)
	}
}

// acceptedKey is the SSH server's VerifiedPublicKeyCallback: the client
// has proved it holds key, which the public-key handler accepted. It logs
// the key that connected and admits it only if the allowlist has it (the
// key the client proved, checked again); the connection then leaves the
// gate's count of those waiting to authenticate.
func (g *connGate) acceptedKey(ctx ssh.Context, keys *KeySet, conn gossh.ConnMetadata, key gossh.PublicKey, perms *gossh.Permissions) (*gossh.Permissions, error) {
	if !keys.Has(key) {
		g.logger.Printf("refused key %s from %s (user %q): not in the allowlist", fingerprint(key), conn.RemoteAddr(), conn.User())
		keyRefused(ctx)
		return nil, errors.New("permission denied")
	}
	markAuthenticated(ctx)
	g.logger.Printf("accepted key %s from %s (user %q)", fingerprint(key), conn.RemoteAddr(), conn.User())
	return perms, nil
}

// failed is the server's ConnectionFailedCallback: a handshake that did
// not end in an authenticated connection (refused keys, passwords, a
// client that gave up, the deadline). The line names the user the client
// asked for and the methods it tried, when it got that far.
func (g *connGate) failed(c net.Conn, err error) {
	if errors.Is(err, net.ErrClosed) {
		return // closed by the deadline, which said so
	}
	var user string
	var methods []string
	g.mu.Lock()
	gc := g.open[c.RemoteAddr().String()]
	g.mu.Unlock()
	if gc != nil {
		user, methods = gc.attempts()
		gc.forget()
	}
	who := ""
	if user != "" {
		who = fmt.Sprintf(" (user %q)", user)
	}
	var authErr *gossh.ServerAuthError
	if errors.As(err, &authErr) {
		reason := "no accepted authentication"
		for _, e := range authErr.Errors {
			if e != nil && strings.Contains(e.Error(), "too many authentication") {
				reason = e.Error()
			}
		}
		tried := "none"
		if len(methods) > 0 {
			tried = strings.Join(methods, ", ")
		}
		g.logger.Printf("refused connection from %s%s: %s (methods tried: %s)", c.RemoteAddr(), who, reason, tried)
		return
	}
	g.logger.Printf("refused connection from %s%s: %v", c.RemoteAddr(), who, err)
}

// fingerprint is a key's SHA256 fingerprint as OpenSSH prints it.
func fingerprint(k gossh.PublicKey) string {
	if k == nil {
		return "no key"
	}
	return fmt.Sprintf("%s %s", k.Type(), gossh.FingerprintSHA256(k))
}
