package tui

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// TestSSHSilentConnections: 300 TCP connections to the server that never
// say a word are all closed within the handshake deadline, those over the
// caps at once, each with a log line, while an allowed key still gets its
// TUI (from another loopback address, as a colleague would from another
// machine) and keeps it past the deadline. Only loopback addresses are
// used.
func TestSSHSilentConnections(t *testing.T) {
	l, _ := pacedLab(t, 5, 2)
	alice := newSigner(t)
	keyFile := filepath.Join(t.TempDir(), "authorized_keys")
	os.WriteFile(keyFile, gossh.MarshalAuthorizedKey(alice.PublicKey()), 0o600)
	keys, err := ParseAuthorizedKeys(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	const deadline = 2 * time.Second
	logs := &syncBuffer{}
	srv, err := NewServer(ServerConfig{Lab: l, AuthorizedKeys: keys, HostKeyPath: filepath.Join(t.TempDir(), "host"),
		HandshakeTimeout: deadline, MaxUnauthenticated: 64, MaxUnauthenticatedPerSource: 16, Log: logs})
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

	// 300 silent connections; each records when the server closed it.
	const n = 300
	start := time.Now()
	closedAfter := make([]time.Duration, n)
	var wg sync.WaitGroup
	var conns []net.Conn
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(deadline + 10*time.Second))
			io.Copy(io.Discard, c) // the server's version line, then EOF when it closes
			closedAfter[i] = time.Since(start)
		}()
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()

	// Meanwhile the allowed key logs in from 127.0.0.2.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from 127.0.0.2: %v", err)
	}
	cfg := &gossh.ClientConfig{User: "researcher", Auth: []gossh.AuthMethod{gossh.PublicKeys(alice)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second}
	sc, chans, reqs, err := gossh.NewClientConn(raw, addr, cfg)
	if err != nil {
		t.Fatalf("allowed key during the flood: %v", err)
	}
	a := startTUI(t, gossh.NewClient(sc, chans, reqs))
	a.out.waitFor(t, "BioNAS Lab")
	loggedIn := time.Since(start)

	wg.Wait()
	sorted := append([]time.Duration(nil), closedAfter...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	atOnce := 0
	for _, d := range sorted {
		if d < deadline/2 {
			atOnce++
		}
	}
	t.Logf("%d silent connections: %d closed at once (over the caps), the rest by the %s deadline; last closed after %s; the allowed key had its TUI after %s",
		n, atOnce, deadline, sorted[n-1].Round(time.Millisecond), loggedIn.Round(time.Millisecond))
	if last := sorted[n-1]; last > deadline+time.Second {
		t.Fatalf("the last silent connection was closed after %s, deadline %s", last, deadline)
	}
	if atOnce != n-16 {
		t.Errorf("%d connections closed at once, want %d (all but the 16 one address may hold)", atOnce, n-16)
	}
	if w := srv.Unauthenticated(); w != 0 {
		t.Errorf("%d connections still counted as unauthenticated", w)
	}
	// One log line per refused connection, and the key that logged in.
	log := func() string { logs.mu.Lock(); defer logs.mu.Unlock(); return logs.b.String() }()
	if got := strings.Count(log, "refused connection from 127.0.0.1:"); got != n-16 {
		t.Errorf("%d 'refused connection' lines, want %d", got, n-16)
	}
	if got := strings.Count(log, "no authentication within 2s"); got != 16 {
		t.Errorf("%d deadline lines, want 16", got)
	}
	if !strings.Contains(log, "session from 127.0.0.2:") || !strings.Contains(log, gossh.FingerprintSHA256(alice.PublicKey())) {
		t.Errorf("no log line of the session with its key fingerprint:\n%s", clipLog(log))
	}
	// The authenticated session outlives the deadline.
	a.keys(t, "2")
	a.out.waitFor(t, "Charts")
}

func clipLog(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}

// TestSSHRefusedKeyIsLogged: a key not in the allowlist is refused with a
// log line giving its fingerprint and address.
func TestSSHRefusedKeyIsLogged(t *testing.T) {
	l, _ := pacedLab(t, 5, 2)
	alice, mallory := newSigner(t), newSigner(t)
	keyFile := filepath.Join(t.TempDir(), "authorized_keys")
	os.WriteFile(keyFile, gossh.MarshalAuthorizedKey(alice.PublicKey()), 0o600)
	keys, _ := ParseAuthorizedKeys(keyFile)
	logs := &syncBuffer{}
	srv, err := NewServer(ServerConfig{Lab: l, AuthorizedKeys: keys, HostKeyPath: filepath.Join(t.TempDir(), "host"), Log: logs})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.srv.Close()
	cfg := &gossh.ClientConfig{User: "mallory", Auth: []gossh.AuthMethod{gossh.PublicKeys(mallory)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second}
	if c, err := gossh.Dial("tcp", ln.Addr().String(), cfg); err == nil {
		c.Close()
		t.Fatal("unknown key admitted")
	}
	want := "refused key ssh-ed25519 " + gossh.FingerprintSHA256(mallory.PublicKey()) + " from 127.0.0.1:"
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs.mu.Lock()
		log := logs.b.String()
		logs.mu.Unlock()
		if strings.Contains(log, want) && strings.Contains(log, `(user "mallory")`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q:\n%s", want, clipLog(log))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if w := srv.Unauthenticated(); w != 0 {
		// The refused client hung up: its slot is free again.
		time.Sleep(100 * time.Millisecond)
		if w := srv.Unauthenticated(); w != 0 {
			t.Fatalf("%d connections still counted after the refused client left", w)
		}
	}
}
