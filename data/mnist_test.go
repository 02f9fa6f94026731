package data

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// realMNIST loads real MNIST once per test binary.
var realMNIST struct {
	once        sync.Once
	train, test Dataset
	err         error
}

func loadRealMNIST(t testing.TB) (train, test Dataset) {
	t.Helper()
	realMNIST.once.Do(func() {
		realMNIST.train, realMNIST.err = MNIST(context.Background(), true)
		if realMNIST.err == nil {
			realMNIST.test, realMNIST.err = MNIST(context.Background(), false)
		}
	})
	if realMNIST.err != nil {
		t.Fatalf("real MNIST: %v", realMNIST.err)
	}
	return realMNIST.train, realMNIST.test
}

func TestMNISTReal(t *testing.T) {
	train, test := loadRealMNIST(t)
	cases := []struct {
		name   string
		ds     Dataset
		n      int
		counts []int
		first  []int
	}{
		{"train", train, 60000, []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}, []int{5, 0, 4, 1, 9, 2, 1, 3, 1, 4}},
		{"test", test, 10000, []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}, []int{7, 2, 1, 0, 4, 1, 4, 9, 5, 9}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := tc.ds
			if ds.Len() != tc.n {
				t.Fatalf("Len = %d, want %d", ds.Len(), tc.n)
			}
			if c, h, w := ds.Shape(); c != 1 || h != 28 || w != 28 {
				t.Fatalf("Shape = %d×%d×%d, want 1×28×28", c, h, w)
			}
			if ds.Classes() != 10 || strings.Join(ds.ClassNames(), "") != "0123456789" {
				t.Fatalf("classes %d %v", ds.Classes(), ds.ClassNames())
			}
			counts := make([]int, 10)
			img := make([]float32, 784)
			lo, hi := float32(1), float32(0)
			for i := range ds.Len() {
				l := ds.Image(i, img)
				if l < 0 || l > 9 {
					t.Fatalf("image %d: label %d", i, l)
				}
				counts[l]++
				if i < len(tc.first) && l != tc.first[i] {
					t.Errorf("label %d = %d, want %d", i, l, tc.first[i])
				}
				if i < 100 {
					for _, v := range img {
						lo, hi = min(lo, v), max(hi, v)
					}
				}
			}
			for k := range counts {
				if counts[k] != tc.counts[k] {
					t.Errorf("class %d: %d images, want %d", k, counts[k], tc.counts[k])
				}
			}
			if lo != 0 || hi != 1 {
				t.Errorf("pixel range [%v,%v], want [0,1]", lo, hi)
			}
		})
	}
	// The known per-pixel statistics of the MNIST training set.
	s := ComputeStats(train)
	if d := s.Mean[0] - 0.1307; d > 1e-4 || d < -1e-4 {
		t.Errorf("train mean %.5f, want 0.1307", s.Mean[0])
	}
	if d := s.Std[0] - 0.3081; d > 1e-4 || d < -1e-4 {
		t.Errorf("train std %.5f, want 0.3081", s.Std[0])
	}
}

// gomnistData returns the data folder of GoMNIST that MNIST found.
func gomnistData(t *testing.T) string {
	t.Helper()
	dir, err := defaultMNISTLocator().find(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMNISTLocatorModuleCache(t *testing.T) {
	src := gomnistData(t)
	root := t.TempDir()
	data := filepath.Join(root, filepath.FromSlash(gomnistEscaped)+"@v0.0.0-20990101000000-000000000000", "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range mnistFiles() {
		if err := os.Symlink(filepath.Join(src, f.Name), filepath.Join(data, f.Name)); err != nil {
			t.Fatal(err)
		}
	}
	// GOMODCACHE names the cache.
	l := mnistLocator{getenv: func(k string) string {
		if k == "GOMODCACHE" {
			return root
		}
		return ""
	}}
	if dir, err := l.find(context.Background()); err != nil || dir != data {
		t.Fatalf("GOMODCACHE: found %q, %v; want %s", dir, err, data)
	}
	// GOPATH: the cache is GOPATH/pkg/mod.
	gp := t.TempDir()
	mod := filepath.Join(gp, "pkg", "mod")
	if err := os.MkdirAll(filepath.Dir(mod), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, mod); err != nil {
		t.Fatal(err)
	}
	l = mnistLocator{getenv: func(k string) string {
		if k == "GOPATH" {
			return t.TempDir() + string(filepath.ListSeparator) + gp
		}
		return ""
	}}
	if dir, err := l.find(context.Background()); err != nil || !strings.HasPrefix(dir, mod) {
		t.Fatalf("GOPATH: found %q, %v; want under %s", dir, err, mod)
	}
}

func TestMNISTLocatorNotFound(t *testing.T) {
	empty := t.TempDir()
	// A corrupted copy is not taken for MNIST.
	bad := filepath.Join(empty, filepath.FromSlash(gomnistEscaped)+"@"+gomnistVersion, "data")
	os.MkdirAll(bad, 0o755)
	for _, f := range mnistFiles() {
		os.WriteFile(filepath.Join(bad, f.Name), []byte("not mnist"), 0o644)
	}
	l := mnistLocator{getenv: func(k string) string {
		if k == "GOMODCACHE" {
			return empty
		}
		return ""
	}, cacheDir: filepath.Join(empty, "cache")}
	_, err := l.find(context.Background())
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	for _, want := range []string{bad, "checksum mismatch", l.cacheDir, "bionas data fetch mnist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestMNISTLocatorDownload: with no module cache and no go tool, MNIST is
// downloaded into the cache folder (from a local server serving the real
// files) and verified.
func TestMNISTLocatorDownload(t *testing.T) {
	src := gomnistData(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	defer srv.Close()
	cache := filepath.Join(t.TempDir(), "bionas", "mnist")
	files := mnistFiles()
	for i := range files {
		files[i].URLs = []string{srv.URL + "/missing/" + files[i].Name, srv.URL + "/" + files[i].Name}
	}
	fetches := 0
	l := mnistLocator{
		getenv:   func(string) string { return "" },
		cacheDir: cache,
		fetch: func(ctx context.Context, dir string) error {
			fetches++
			return fetcher{client: srv.Client(), attempts: 2, wait: time.Millisecond}.fetch(ctx, source{name: "mnist", files: files}, dir, nil)
		},
	}
	for range 2 {
		dir, err := l.find(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if dir != cache {
			t.Fatalf("found %s, want %s", dir, cache)
		}
	}
	if fetches != 1 {
		t.Fatalf("%d downloads, want 1 (the second find uses the cache)", fetches)
	}
	ds, err := MNISTDir(cache, false)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 10000 {
		t.Fatalf("Len = %d", ds.Len())
	}
	left, _ := filepath.Glob(filepath.Join(cache, "*.part"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestMNISTLocatorGoTool: without environment hints MNIST asks the go tool,
// first `go env GOMODCACHE`, then `go mod download -json`.
func TestMNISTLocatorGoTool(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stand-in go tools are shell scripts")
	}
	src := gomnistData(t)
	modDir := filepath.Dir(src)                               // the module folder; data/ is inside
	cache := filepath.Dir(filepath.Dir(filepath.Dir(modDir))) // …/pkg/mod
	tmp := t.TempDir()
	cases := []struct{ name, script string }{
		{"go env", "#!/bin/sh\ncase \"$1\" in env) echo '" + cache + "';; *) exit 1;; esac\n"},
		{"go mod download", "#!/bin/sh\ncase \"$1\" in env) echo '" + tmp + "';; mod) echo '{\"Path\":\"" + gomnistModule + "\",\"Dir\":\"" + modDir + "\"}';; *) exit 1;; esac\n"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tool := filepath.Join(tmp, "go"+string(rune('0'+i)))
			if err := os.WriteFile(tool, []byte(tc.script), 0o755); err != nil {
				t.Fatal(err)
			}
			l := mnistLocator{getenv: func(string) string { return "" }, goTool: tool}
			dir, err := l.find(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if dir != src {
				t.Fatalf("found %s, want %s", dir, src)
			}
		})
	}
}
