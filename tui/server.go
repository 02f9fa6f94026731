package tui

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	"github.com/charmbracelet/wish/activeterm"
	bm "github.com/charmbracelet/wish/bubbletea"
	"github.com/charmbracelet/wish/logging"
	"github.com/muesli/termenv"
	gossh "golang.org/x/crypto/ssh"

	"github.com/bionaslab/bionas/lab"
)

// KeySet is an allowlist of SSH public keys.
type KeySet struct {
	keys map[string]string // wire form → comment
}

// Len returns the number of keys.
func (k *KeySet) Len() int { return len(k.keys) }

// Has reports whether key is in the set.
func (k *KeySet) Has(key gossh.PublicKey) bool {
	if k == nil || key == nil {
		return false
	}
	_, ok := k.keys[string(key.Marshal())]
	return ok
}

// ParseAuthorizedKeys reads an OpenSSH authorized_keys file into a key set.
// Blank lines and # comments are skipped. Every line that is not a valid
// key is reported by its number, as are lines with options (from=,
// command=, …), which this server cannot honour and so refuses rather than
// ignores; with any such line, or no key at all, it returns an error.
func ParseAuthorizedKeys(path string) (*KeySet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authorized keys: %w", err)
	}
	return parseAuthorizedKeys(path, b)
}

func parseAuthorizedKeys(name string, b []byte) (*KeySet, error) {
	ks := &KeySet{keys: map[string]string{}}
	var bad []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, comment, opts, rest, err := gossh.ParseAuthorizedKey([]byte(line))
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s:%d: not a public key (%v)", name, n, err))
		case len(opts) > 0:
			bad = append(bad, fmt.Sprintf("%s:%d: key options (%s) are not supported; remove them", name, n, strings.Join(opts, ",")))
		case len(bytes.TrimSpace(rest)) > 0:
			bad = append(bad, fmt.Sprintf("%s:%d: one key per line", name, n))
		default:
			ks.keys[string(key.Marshal())] = comment
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("authorized keys %s: %w", name, err)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("authorized keys: %d bad line%s:\n  %s", len(bad), plural(len(bad)), strings.Join(bad, "\n  "))
	}
	if len(ks.keys) == 0 {
		return nil, fmt.Errorf("authorized keys %s: no keys (the server admits no one without an allowlist)", name)
	}
	return ks, nil
}

// ServerConfig configures the SSH server.
type ServerConfig struct {
	// Addr is the listening address, e.g. "127.0.0.1:2222".
	Addr string
	// AuthorizedKeys is the allowlist, parsed once by NewServer.
	AuthorizedKeys *KeySet
	// HostKeyPath is the server's private key, generated (Ed25519, mode
	// 0600) on first use and kept (default <lab dir>/ssh/host_ed25519).
	HostKeyPath string
	// Lab is the one lab every session shows.
	Lab *lab.Lab
	// IdleTimeout closes connections idle this long (default 30 min; < 0:
	// never).
	IdleTimeout time.Duration
	// HandshakeTimeout closes a connection that has not authenticated
	// (opened a session) this long after it connected (default 60 s, the
	// time to type a key's passphrase; < 0: never). Without it a silent
	// TCP connection would be held open forever.
	HandshakeTimeout time.Duration
	// MaxUnauthenticated caps the connections waiting to authenticate
	// (default 64) and MaxUnauthenticatedPerSource those from one address
	// (default 16); more are closed at once, each with a log line.
	MaxUnauthenticated, MaxUnauthenticatedPerSource int
	// Log receives a line for every refused attempt — a key not in the
	// allowlist (with its SHA256 fingerprint), a password, a connection
	// over the caps or past the handshake deadline, a client that gave up
	// — with the remote address, the user and the reason; one for every
	// key that authenticates (user, address, fingerprint) and every
	// session it opens; and errors (default io.Discard).
	Log io.Writer
	// Device is shown in every session's status bar when the lab's
	// backend names no device of its own (see Options.Device).
	Device string
}

// DefaultHostKeyPath is where the server keeps its key for a lab folder.
func DefaultHostKeyPath(labDir string) string { return filepath.Join(labDir, "ssh", "host_ed25519") }

// Server serves the TUI over SSH: public-key authentication against an
// allowlist, one TUI per session over the shared lab, each with styles from
// its own terminal.
type Server struct {
	cfg    ServerConfig
	srv    *ssh.Server
	logger *log.Logger

	ctx    context.Context // cancelled by Shutdown: every session quits
	cancel context.CancelFunc

	gate *connGate // connections that have not authenticated yet

	mu       sync.Mutex
	programs map[*tea.Program]struct{}
	sessions sync.WaitGroup
}

// NewServer builds the server (and the host key, if missing).
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Lab == nil {
		return nil, errors.New("ssh server: no lab")
	}
	if cfg.AuthorizedKeys == nil || cfg.AuthorizedKeys.Len() == 0 {
		return nil, errors.New("ssh server: no authorized keys (refusing to serve without an allowlist)")
	}
	if cfg.HostKeyPath == "" {
		cfg.HostKeyPath = DefaultHostKeyPath(cfg.Lab.Dir())
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = defaultHandshakeTimeout
	}
	if cfg.MaxUnauthenticated <= 0 {
		cfg.MaxUnauthenticated = defaultMaxUnauthenticated
	}
	if cfg.MaxUnauthenticatedPerSource <= 0 {
		cfg.MaxUnauthenticatedPerSource = defaultMaxUnauthPerSource
	}
	if err := os.MkdirAll(filepath.Dir(cfg.HostKeyPath), 0o700); err != nil {
		return nil, fmt.Errorf("ssh server: host key folder: %w", err)
	}
	s := &Server{cfg: cfg, logger: log.New(cfg.Log, "bionas serve: ", log.LstdFlags), programs: map[*tea.Program]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.gate = newConnGate(cfg.HandshakeTimeout, cfg.MaxUnauthenticated, cfg.MaxUnauthenticatedPerSource, s.logger)
	keys := cfg.AuthorizedKeys
	opts := []ssh.Option{
		wish.WithAddress(cfg.Addr),
		wish.WithHostKeyPath(cfg.HostKeyPath),
		// Public keys only: with a public-key handler and no password or
		// keyboard-interactive one, every other method is refused.
		wish.WithPublicKeyAuth(func(ctx ssh.Context, key ssh.PublicKey) bool {
			if keys.Has(key) {
				return true
			}
			s.logger.Printf("refused key %s from %s (user %q): not in the allowlist", fingerprint(key), ctx.RemoteAddr(), ctx.User())
			keyRefused(ctx)
			return false
		}),
		s.gateOption,
		wish.WithMiddleware(
			bm.MiddlewareWithProgramHandler(s.program, termenv.Ascii),
			activeterm.Middleware(),
			s.recheck,
			logging.MiddlewareWithLogger(s.logger),
		),
	}
	if cfg.IdleTimeout > 0 {
		opts = append(opts, wish.WithIdleTimeout(cfg.IdleTimeout))
	}
	srv, err := wish.NewServer(opts...)
	if err != nil {
		return nil, fmt.Errorf("ssh server: %w", err)
	}
	s.srv = srv
	return s, nil
}

// gateOption puts the pre-authentication limits (connGate) on the server:
// every TCP connection is counted and given its deadline before the
// handshake, and leaves the count when it opens a session channel, which
// only an authenticated client can.
func (s *Server) gateOption(srv *ssh.Server) error {
	srv.ConnCallback = s.gate.accept
	srv.ConnectionFailedCallback = s.gate.failed
	// Every authentication attempt is logged (authAttempt), and so is the
	// key of every connection that authenticates (acceptedKey).
	srv.ServerConfigCallback = func(ctx ssh.Context) *gossh.ServerConfig {
		return &gossh.ServerConfig{
			AuthLogCallback: func(conn gossh.ConnMetadata, method string, err error) {
				s.gate.authAttempt(ctx, conn, method, err)
			},
			VerifiedPublicKeyCallback: func(conn gossh.ConnMetadata, key gossh.PublicKey, perms *gossh.Permissions, _ string) (*gossh.Permissions, error) {
				return s.gate.acceptedKey(ctx, s.cfg.AuthorizedKeys, conn, key, perms)
			},
		}
	}
	srv.ChannelHandlers = map[string]ssh.ChannelHandler{
		"session": func(srv *ssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx ssh.Context) {
			markAuthenticated(ctx)
			ssh.DefaultSessionHandler(srv, conn, ch, ctx)
		},
	}
	return nil
}

// recheck admits a session only if the key it authenticated with is on the
// allowlist (defence in depth: the auth callback may also see keys the
// client never proves, CVE-2024-45337), and logs the key that connected.
func (s *Server) recheck(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		if !s.cfg.AuthorizedKeys.Has(sess.PublicKey()) {
			s.logger.Printf("refused session from %s (user %q): key %s not in the allowlist", sess.RemoteAddr(), sess.User(), fingerprint(sess.PublicKey()))
			wish.Fatalln(sess, "not authorized")
			return
		}
		s.logger.Printf("session from %s (user %q), key %s", sess.RemoteAddr(), sess.User(), fingerprint(sess.PublicKey()))
		next(sess)
	}
}

// Unauthenticated is the number of connections waiting to authenticate.
func (s *Server) Unauthenticated() int { return s.gate.waiting() }

// program makes one session's TUI.
func (s *Server) program(sess ssh.Session) *tea.Program {
	if s.ctx.Err() != nil {
		wish.Fatalln(sess, "the server is shutting down")
		return nil
	}
	pty, _, _ := sess.Pty()
	shell := New(s.cfg.Lab, Options{
		Renderer: bm.MakeRenderer(sess),
		Context:  sess.Context(),
		Width:    pty.Window.Width,
		Height:   pty.Window.Height,
		Device:   s.cfg.Device,
	})
	opts := append([]tea.ProgramOption{tea.WithAltScreen(), tea.WithMouseCellMotion(), tea.WithFPS(30)}, bm.MakeOptions(sess)...)
	p := tea.NewProgram(shell, opts...)
	s.mu.Lock()
	s.programs[p] = struct{}{}
	s.mu.Unlock()
	s.sessions.Add(1)
	go func() {
		defer s.sessions.Done()
		select {
		case <-sess.Context().Done():
		case <-s.ctx.Done():
			p.Quit()
		}
		// Close the shell once the program is done with it (a program
		// that never started cannot be waited for: give up after a while).
		waited := make(chan struct{})
		go func() { p.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
		}
		shell.Close()
		s.mu.Lock()
		delete(s.programs, p)
		s.mu.Unlock()
	}()
	return p
}

// ListenAndServe listens on the configured address and serves until
// Shutdown. It returns nil after a shutdown.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("ssh server: %w", err)
	}
	return s.Serve(ln)
}

// Serve serves on ln until Shutdown. It returns nil after a shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.logger.Printf("listening on %s (%d authorized key%s)", ln.Addr(), s.cfg.AuthorizedKeys.Len(), plural(s.cfg.AuthorizedKeys.Len()))
	err := s.srv.Serve(ln)
	if errors.Is(err, ssh.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown ends every session gracefully — each TUI quits and restores
// its terminal, which ends its SSH session — waiting for them until ctx
// ends, then stops listening and closes the connections.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	done := make(chan struct{})
	go func() { s.sessions.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.logger.Printf("shutdown: %d session(s) did not end in time; closing them", s.Sessions())
	}
	if err := s.srv.Close(); err != nil && !errors.Is(err, ssh.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// Sessions returns the number of open TUI sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.programs)
}
