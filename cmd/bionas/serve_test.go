package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

func TestServeRefusesWithoutAGoodAllowlist(t *testing.T) {
	ctx := context.Background()
	lab := filepath.Join(t.TempDir(), "lab")
	if err := runServe(ctx, []string{"--lab", lab}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--authorized-keys") {
		t.Fatalf("no allowlist: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(bad, []byte("# ok\nssh-rsa garbage\n"), 0o600)
	err := runServe(ctx, []string{"--lab", lab, "--authorized-keys", bad}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), bad+":2:") {
		t.Fatalf("bad allowlist: %v", err)
	}
}

func TestServeKeepsItsHostKeyInTheLab(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(priv)
	keys := filepath.Join(t.TempDir(), "authorized_keys")
	os.WriteFile(keys, gossh.MarshalAuthorizedKey(signer.PublicKey()), 0o600)
	lab := filepath.Join(t.TempDir(), "lab")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var stderr strings.Builder
	if err := runServe(ctx, []string{"--lab", lab, "--listen", "127.0.0.1:0", "--authorized-keys", keys}, io.Discard, &stderr); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(lab, "ssh", "host_ed25519")
	first, err := os.ReadFile(key)
	if err != nil {
		t.Fatalf("no host key in the lab: %v\n%s", err, stderr.String())
	}
	if _, err := os.Stat("id_ed25519"); err == nil {
		t.Fatal("a host key was written into the working folder")
	}
	if !strings.Contains(stderr.String(), "SHA256:") {
		t.Fatalf("no fingerprint printed: %s", stderr.String())
	}
	// A second start keeps the key.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if err := runServe(ctx2, []string{"--lab", lab, "--listen", "127.0.0.1:0", "--authorized-keys", keys}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(key)
	if string(first) != string(second) {
		t.Fatal("the host key changed between starts")
	}
}

func TestTUIArgs(t *testing.T) {
	if err := runTUI(context.Background(), []string{"a", "b"}, io.Discard, io.Discard); err == nil {
		t.Fatal("two lab folders accepted")
	}
}
