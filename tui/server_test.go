package tui

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/bionaslab/bionas/lab"
)

func newSigner(t testing.TB) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseAuthorizedKeysReportsBadLines(t *testing.T) {
	good := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(newSigner(t).PublicKey())))
	file := strings.Join([]string{
		"# lab users",
		good + " alice@lab",
		"ssh-ed25519 AAAAnotbase64!!! bob",
		"",
		`from="10.0.0.1" ` + good,
		good + " carol",
	}, "\n")
	_, err := parseAuthorizedKeys("keys", []byte(file))
	if err == nil {
		t.Fatal("bad lines accepted")
	}
	msg := err.Error()
	for _, want := range []string{"2 bad lines", "keys:3:", "keys:5:", "options"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "keys:2:") || strings.Contains(msg, "keys:6:") {
		t.Errorf("good lines reported: %q", msg)
	}
	ks, err := parseAuthorizedKeys("keys", []byte("# nothing\n"+good+"\n"))
	if err != nil || ks.Len() != 1 {
		t.Fatalf("good file: %v %v", ks, err)
	}
	if _, err := parseAuthorizedKeys("keys", []byte("# nobody\n")); err == nil {
		t.Fatal("an empty allowlist must be refused")
	}
}

// syncBuffer collects a session's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// waitFor waits until the output has shown s since the last call, and
// forgets what it has seen so far.
func (s *syncBuffer) waitFor(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		ok := bytes.Contains(s.b.Bytes(), []byte(what))
		if ok {
			s.b.Reset()
		}
		tail := s.b.String()
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if len(tail) > 2000 {
				tail = tail[len(tail)-2000:]
			}
			t.Fatalf("session never showed %q; last output: %q", what, tail)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tuiSession is one SSH client with a PTY running the TUI.
type tuiSession struct {
	client *gossh.Client
	sess   *gossh.Session
	in     interface{ Write([]byte) (int, error) }
	out    *syncBuffer
}

func dialTUI(t *testing.T, addr string, cfg *gossh.ClientConfig) *tuiSession {
	t.Helper()
	c, err := gossh.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return startTUI(t, c)
}

// startTUI opens a session with a PTY on c and waits for the TUI.
func startTUI(t *testing.T, c *gossh.Client) *tuiSession {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	// RequestPty takes the height before the width.
	if err := s.RequestPty("xterm-256color", 30, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	in, err := s.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	s.Stdout = out
	s.Stderr = out
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	ts := &tuiSession{client: c, sess: s, in: in, out: out}
	t.Cleanup(func() { s.Close(); c.Close() })
	// Answer the server's terminal queries (background colour, device
	// attributes) as a terminal does: a dark background.
	out.waitFor(t, "\x1b[c")
	ts.keys(t, "\x1b]11;rgb:1c1c/1c1c/1c1c\x07\x1b[?62;22c")
	return ts
}

func (s *tuiSession) keys(t *testing.T, k string) {
	t.Helper()
	if _, err := s.in.Write([]byte(k)); err != nil {
		t.Fatal(err)
	}
}

// TestSSHServer checks the allowlist (an allowed key gets the TUI; an
// unknown key and a password are refused), the host key kept on disk, and
// two sessions watching the same run live.
func TestSSHServer(t *testing.T) {
	l, pace := pacedLab(t, 5, 2)
	alice, mallory := newSigner(t), newSigner(t)
	keyFile := filepath.Join(t.TempDir(), "authorized_keys")
	if err := os.WriteFile(keyFile, gossh.MarshalAuthorizedKey(alice.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := ParseAuthorizedKeys(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(t.TempDir(), "ssh", "host_ed25519")
	srv, err := NewServer(ServerConfig{Lab: l, AuthorizedKeys: keys, HostKeyPath: hostKey})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()

	// The host key was generated once, privately, where we asked.
	st, err := os.Stat(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Fatalf("host key mode %v", st.Mode().Perm())
	}
	pem, _ := os.ReadFile(hostKey)
	host, err := gossh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(auth gossh.AuthMethod) *gossh.ClientConfig {
		return &gossh.ClientConfig{User: "researcher", Auth: []gossh.AuthMethod{auth},
			HostKeyCallback: gossh.FixedHostKey(host.PublicKey()), Timeout: 5 * time.Second}
	}

	// Refused: an unknown key, a password.
	if c, err := gossh.Dial("tcp", addr, cfg(gossh.PublicKeys(mallory))); err == nil {
		c.Close()
		t.Fatal("unknown key admitted")
	}
	if c, err := gossh.Dial("tcp", addr, cfg(gossh.Password("hunter2"))); err == nil {
		c.Close()
		t.Fatal("password admitted")
	}

	// A run, then two sessions of the allowed key watching it.
	run, err := l.Start(lab.Spec{Kind: lab.KindSearch, Preset: lab.DefaultPreset})
	if err != nil {
		t.Fatal(err)
	}
	a := dialTUI(t, addr, cfg(gossh.PublicKeys(alice)))
	b := dialTUI(t, addr, cfg(gossh.PublicKeys(alice)))
	a.out.waitFor(t, "BioNAS Lab")
	b.out.waitFor(t, "BioNAS Lab")
	a.keys(t, "2")
	b.keys(t, "2")
	a.out.waitFor(t, "Charts · "+run.ID)
	b.out.waitFor(t, "Charts · "+run.ID)
	feed(t, pace, 3)
	a.out.waitFor(t, "step 3/10")
	b.out.waitFor(t, "step 3/10")
	feed(t, pace, 3)
	a.out.waitFor(t, "step 6/10")
	b.out.waitFor(t, "step 6/10")
	if n := srv.Sessions(); n != 2 {
		t.Fatalf("%d sessions", n)
	}

	// One user quits; the other keeps watching; then the server shuts
	// down and ends the remaining session.
	a.keys(t, "q")
	if err := a.sess.Wait(); err != nil {
		t.Logf("session a ended: %v", err)
	}
	feed(t, pace, 4)
	b.out.waitFor(t, "step 10/10")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { b.sess.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("session b survived the shutdown")
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if n := l.Subscribers(); n != 0 {
		t.Fatalf("%d lab subscriptions left after the sessions ended", n)
	}
}
