package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/bionaslab/bionas/tui"
)

// runServe serves the lab's TUI over SSH: every session gets its own TUI
// over the one shared lab, authenticated by public key against an
// authorized_keys allowlist.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bionas serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf labFlags
	lf.register(fs)
	listen := fs.String("listen", "127.0.0.1:2222", "address to listen on")
	keysPath := fs.String("authorized-keys", "", "OpenSSH authorized_keys file: the public keys allowed in (required)")
	hostKey := fs.String("host-key", "", "the server's private host key, generated on first use (default <lab>/ssh/host_ed25519)")
	idle := fs.Duration("idle-timeout", 30*time.Minute, "close connections idle this long (0: never)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: bionas serve --authorized-keys FILE [--listen 127.0.0.1:2222] [--host-key FILE] [flags]\n\nServe the lab over SSH: each session gets its own TUI over the one shared lab.\nOnly the public keys in the authorized_keys file are let in; passwords never.\n\nFlags:")
		fs.PrintDefaults()
	}
	dev := deviceFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	devName, release, err := dev.use("serve", stderr)
	if err != nil {
		return err
	}
	defer release()
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q (see bionas serve --help)", fs.Arg(0))
	}
	if *keysPath == "" {
		return errors.New("serve: --authorized-keys is required (the server admits only the keys listed there)")
	}
	keys, err := tui.ParseAuthorizedKeys(*keysPath)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if host, _, err := net.SplitHostPort(*listen); err == nil {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			fmt.Fprintf(stderr, "serve: listening on %s, reachable from other machines; the allowlist is the only gate\n", *listen)
		}
	}
	timeout := *idle
	if timeout == 0 {
		timeout = -1
	}
	l, err := lf.open(dev)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer l.Close()
	if *hostKey == "" {
		*hostKey = tui.DefaultHostKeyPath(lf.dir)
	}
	srv, err := tui.NewServer(tui.ServerConfig{Addr: *listen, AuthorizedKeys: keys, HostKeyPath: *hostKey, Lab: l,
		IdleTimeout: timeout, Log: stderr, Device: devName})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintf(stderr, "serve: lab %s on ssh://%s (%d key%s allowed)\n", lf.dir, ln.Addr(), keys.Len(), map[bool]string{true: "", false: "s"}[keys.Len() == 1])
	if fp, err := hostFingerprint(*hostKey); err == nil {
		fmt.Fprintf(stderr, "serve: host key %s (%s)\n", fp, *hostKey)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	fmt.Fprintln(stderr, "serve: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	if err := <-served; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("serve: close lab: %w", err)
	}
	return nil
}

// hostFingerprint is the SHA-256 fingerprint of a private host key's public
// half, as ssh prints it, for users to check on first connection.
func hostFingerprint(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s, err := gossh.ParsePrivateKey(b)
	if err != nil {
		return "", err
	}
	return gossh.FingerprintSHA256(s.PublicKey()), nil
}
