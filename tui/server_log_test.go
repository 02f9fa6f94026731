package tui

import (
	"bytes"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// waitLog waits up to 5 s for the log to hold every line wanted and
// returns it.
func waitLog(t *testing.T, logs *syncBuffer, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs.mu.Lock()
		s := logs.b.String()
		logs.mu.Unlock()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q:\n%s", missing, clipLog(s))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// linesWith returns the log lines that contain s.
func linesWith(log, s string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// TestSSHLogsAttempts: every refused attempt is logged with the remote
// address, the user and the reason (a key not in the allowlist with its
// fingerprint, a client with no method the server takes, a connection
// over the per-address cap), and every key that connects with its user,
// address and SHA256 fingerprint.
func TestSSHLogsAttempts(t *testing.T) {
	l, _ := pacedLab(t, 5, 2)
	alice, mallory := newSigner(t), newSigner(t)
	keyFile := filepath.Join(t.TempDir(), "authorized_keys")
	os.WriteFile(keyFile, gossh.MarshalAuthorizedKey(alice.PublicKey()), 0o600)
	keys, err := ParseAuthorizedKeys(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv, err := NewServer(ServerConfig{Lab: l, AuthorizedKeys: keys, HostKeyPath: filepath.Join(t.TempDir(), "host"),
		MaxUnauthenticatedPerSource: 1, Log: logs})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.srv.Close()
	addr := ln.Addr().String()

	// dial connects as user with auth and returns the client's address
	// (the server's remote address) and the client, nil if refused.
	dial := func(user string, auth gossh.AuthMethod) (string, *gossh.Client) {
		t.Helper()
		raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		from := raw.LocalAddr().String()
		cfg := &gossh.ClientConfig{User: user, Auth: []gossh.AuthMethod{auth}, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second}
		sc, chans, reqs, err := gossh.NewClientConn(raw, addr, cfg)
		if err != nil {
			raw.Close()
			return from, nil
		}
		return from, gossh.NewClient(sc, chans, reqs)
	}

	// An unknown key: its fingerprint, then the connection, each once.
	from, c := dial("mallory", gossh.PublicKeys(mallory))
	if c != nil {
		c.Close()
		t.Fatal("unknown key admitted")
	}
	fp := gossh.FingerprintSHA256(mallory.PublicKey())
	keyLine := fmt.Sprintf("refused key ssh-ed25519 %s from %s (user \"mallory\"): not in the allowlist", fp, from)
	connLine := fmt.Sprintf("refused connection from %s (user \"mallory\"): no accepted authentication (methods tried: none, publickey)", from)
	log := waitLog(t, logs, keyLine, connLine)
	if n := len(linesWith(log, from)); n != 2 {
		t.Errorf("%d log lines about %s, want 2 (the key, the connection):\n%s", n, from, strings.Join(linesWith(log, from), "\n"))
	}

	// A password client: the server offers only public keys, so the
	// client gives up after asking; the connection is refused with its
	// user.
	from, c = dial("guest", gossh.Password("hunter2"))
	if c != nil {
		c.Close()
		t.Fatal("password admitted")
	}
	waitLog(t, logs, fmt.Sprintf("refused connection from %s (user \"guest\"): no accepted authentication (methods tried: none)", from))

	// The allowed key: accepted, with its fingerprint, and nothing
	// refused.
	from, c = dial("researcher", gossh.PublicKeys(alice))
	if c == nil {
		t.Fatal("allowed key refused")
	}
	log = waitLog(t, logs, fmt.Sprintf("accepted key ssh-ed25519 %s from %s (user \"researcher\")", gossh.FingerprintSHA256(alice.PublicKey()), from))
	if lines := linesWith(log, from); len(lines) != 1 {
		t.Errorf("log lines about the allowed key's connection:\n%s", strings.Join(lines, "\n"))
	}
	// Authenticated, it no longer counts against the caps, session or not.
	if n := srv.Unauthenticated(); n != 0 {
		t.Errorf("%d connections waiting to authenticate after the allowed key's was accepted", n)
	}
	c.Close()

	// Over the cap of one unauthenticated connection per address: the
	// refused clients' connections have left the count (the allowed one
	// left it when its key was accepted), a silent one takes the place.
	waitCount := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for srv.Unauthenticated() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections waiting to authenticate, want %d", srv.Unauthenticated(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitCount(0)
	hold, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	waitCount(1)
	from, c = dial("eve", gossh.PublicKeys(mallory))
	if c != nil {
		c.Close()
		t.Fatal("connection over the cap admitted")
	}
	waitLog(t, logs, fmt.Sprintf("refused connection from %s: 1 connections waiting to authenticate (1 from this address; limits 64 and 1 per address)", from))
}

// fakeConnMeta is the metadata of a connection for authAttempt.
type fakeConnMeta struct {
	user string
	addr net.Addr
}

func (m fakeConnMeta) User() string          { return m.user }
func (m fakeConnMeta) SessionID() []byte     { return nil }
func (m fakeConnMeta) ClientVersion() []byte { return []byte("SSH-2.0-bot") }
func (m fakeConnMeta) ServerVersion() []byte { return []byte("SSH-2.0-Go") }
func (m fakeConnMeta) RemoteAddr() net.Addr  { return m.addr }
func (m fakeConnMeta) LocalAddr() net.Addr   { return m.addr }

// TestSSHAuthAttemptLines: what authAttempt logs for each kind of attempt.
// Password and keyboard-interactive requests come only from clients that
// send them unasked (the server offers neither), such as password
// guessers, which a Go or OpenSSH client never is: hence a unit test.
func TestSSHAuthAttemptLines(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 50022}
	for _, tc := range []struct {
		method string
		err    error
		want   string // "" = no line
	}{
		{"password", fmt.Errorf("ssh: password auth not configured"),
			`refused password attempt from 192.0.2.7:50022 (user "root"): passwords are not accepted, only the allowlist's public keys`},
		{"keyboard-interactive", fmt.Errorf("ssh: keyboard-interactive auth not configured"),
			`refused keyboard-interactive attempt from 192.0.2.7:50022 (user "root"): passwords are not accepted`},
		{"publickey", fmt.Errorf(`ssh: algorithm "ssh-dss" not accepted`),
			`refused key from 192.0.2.7:50022 (user "root"): ssh: algorithm "ssh-dss" not accepted`},
		{"gssapi-with-mic", fmt.Errorf("ssh: gssapi-with-mic auth not configured"),
			`refused "gssapi-with-mic" attempt from 192.0.2.7:50022 (user "root"): ssh: gssapi-with-mic auth not configured`},
		{"none", gossh.ErrNoAuth, ""},
		{"publickey", nil, ""},
	} {
		var buf bytes.Buffer
		g := newConnGate(time.Second, 1, 1, log.New(&buf, "", 0))
		g.authAttempt(nil, fakeConnMeta{"root", addr}, tc.method, tc.err)
		got := strings.TrimSpace(buf.String())
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s %v: logged %q, want %q", tc.method, tc.err, got, tc.want)
		}
	}
}
