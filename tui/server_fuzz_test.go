package tui

import (
	"testing"

	"github.com/bionaslab/bionas/internal/allocguard"
	gossh "golang.org/x/crypto/ssh"
)

// FuzzAuthorizedKeys: the allowlist parser returns for any file, never
// admits a key that is not on a line of its own without options, and
// allocates in proportion to the file.
func FuzzAuthorizedKeys(f *testing.F) {
	key := newSigner(f).PublicKey()
	line := gossh.MarshalAuthorizedKey(key)
	f.Add(line)
	f.Add(append([]byte("# team\n\n"), line...))
	f.Add(append([]byte(`from="10.0.0.1" `), line...))
	f.Add([]byte("ssh-ed25519 AAAA not-base64\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ks *KeySet
		var err error
		allocguard.Check(t, "parseAuthorizedKeys", 2<<20+32*uint64(len(b)), func() { ks, err = parseAuthorizedKeys("keys", b) })
		if err != nil {
			return
		}
		if ks.Len() == 0 {
			t.Fatal("an allowlist without keys was accepted")
		}
		if ks.Has(nil) {
			t.Fatal("a nil key is admitted")
		}
	})
}
