package data

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Fetch downloads a dataset into dir (DefaultDir(name) if dir is empty) from
// its official addresses and checks every file against its published
// checksum (SHA-256 where known, else the published MD5). It skips files
// already present and correct, so running it again is cheap.
//
// Each file is downloaded under the temporary name FILE.part and renamed only
// after its checksum matches; a broken download is resumed with an HTTP Range
// request (on the next attempt, or the next call), and a file whose checksum
// does not match is deleted and reported (ErrChecksum). CIFAR archives are
// extracted (cifar-10-batches-bin/, cifar-100-binary/) and then removed.
//
// progress, if not nil, is called from Fetch's goroutine with the bytes done
// and the total bytes expected (-1 if unknown) as data arrives.
//
// ImageNet16 has no public direct download: Fetch verifies the files present
// in dir against the MD5 sums that NAS-Bench-201 checks and otherwise
// explains how to get them. "synthetic" needs nothing.
func Fetch(ctx context.Context, name, dir string, progress func(done, total int64)) error {
	src, err := officialSource(name)
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = DefaultDir(name); err != nil {
			return err
		}
	}
	return fetcher{client: &http.Client{}, attempts: 3, wait: 2 * time.Second}.fetch(ctx, src, dir, progress)
}

// fetcher downloads sources; tests shorten its waits.
type fetcher struct {
	client   *http.Client
	attempts int           // tries per file and mirror
	wait     time.Duration // pause before a retry, times the attempt number
}

func (f fetcher) fetch(ctx context.Context, src source, dir string, progress func(done, total int64)) error {
	if len(src.files) == 0 {
		return nil
	}
	if src.manual != "" {
		if err := verifyFiles(dir, src.files); err != nil {
			return fmt.Errorf("fetch %s into %s: %w; %s", src.name, dir, err, src.manual)
		}
		return nil
	}
	if src.archive && haveExtracted(dir, src.want) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("fetch %s: %w", src.name, err)
	}
	var total, base int64
	for _, file := range src.files {
		total += file.Size
	}
	for _, file := range src.files {
		dest := filepath.Join(dir, file.Name)
		if verifyFile(dest, file) == nil {
			base += file.Size
			if progress != nil {
				progress(base, total)
			}
			continue
		}
		var sub func(done, _ int64)
		if progress != nil {
			b := base
			sub = func(done, _ int64) { progress(b+done, total) }
		}
		if err := f.download(ctx, file, dest, sub); err != nil {
			return fmt.Errorf("fetch %s: %w", src.name, err)
		}
		base += file.Size
	}
	if src.archive {
		archive := filepath.Join(dir, src.files[0].Name)
		if err := extractTarGz(ctx, archive, dir); err != nil {
			return fmt.Errorf("fetch %s: %w", src.name, err)
		}
		if !haveExtracted(dir, src.want) {
			return fmt.Errorf("fetch %s: archive %s lacks some of %v: %w", src.name, archive, src.want, ErrShape)
		}
		os.Remove(archive)
	}
	return nil
}

// download tries each mirror up to f.attempts times, resuming the partial
// file between tries. A checksum mismatch moves on to the next mirror.
func (f fetcher) download(ctx context.Context, file File, dest string, progress func(done, total int64)) error {
	var errs []error // the last error of each mirror
	for _, url := range file.URLs {
		one := file
		one.URLs = []string{url}
		var last error
		for attempt := 1; attempt <= max(f.attempts, 1); attempt++ {
			err := Download(ctx, f.client, one, dest, progress)
			if err == nil {
				return nil
			}
			last = err
			if ctx.Err() != nil {
				return errors.Join(append(errs, err)...)
			}
			var se statusError
			if errors.Is(err, ErrChecksum) || (errors.As(err, &se) && se.code >= 400 && se.code < 500) {
				break // this mirror will not do better
			}
			if attempt < f.attempts {
				t := time.NewTimer(time.Duration(attempt) * f.wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return errors.Join(append(errs, last, ctx.Err())...)
				case <-t.C:
				}
			}
		}
		errs = append(errs, last)
	}
	if len(errs) == 0 {
		return fmt.Errorf("download %s: no URL", file.Name)
	}
	return errors.Join(errs...)
}

type statusError struct {
	url  string
	code int
}

func (e statusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.url, e.code, http.StatusText(e.code))
}

// Download downloads file from its first URL to dest, once. The data land
// in dest+".part"; if that file exists from an interrupted download, only
// the rest is requested (HTTP Range) and appended. When the server has sent
// everything the whole file is checked against file.SHA256 and/or file.MD5
// (at least one is required): on a match it is synced and renamed to dest;
// on a mismatch it is deleted and the error wraps ErrChecksum. After any
// other failure the partial file is kept for the next call to resume.
//
// client nil means a plain http.Client. progress, if not nil, receives the
// bytes held so far and the total (-1 if unknown).
func Download(ctx context.Context, client *http.Client, file File, dest string, progress func(done, total int64)) error {
	if len(file.URLs) == 0 {
		return fmt.Errorf("download %s: no URL", file.Name)
	}
	if file.SHA256 == "" && file.MD5 == "" {
		return fmt.Errorf("download %s: no checksum to verify against", file.Name)
	}
	if client == nil {
		client = &http.Client{}
	}
	url := file.URLs[0]
	part := dest + ".part"
	var offset int64
	if st, err := os.Stat(part); err == nil && st.Mode().IsRegular() {
		offset = st.Size()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	req.Header.Set("User-Agent", "bionas-data")
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()

	total := int64(-1)
	switch {
	case resp.StatusCode == http.StatusOK:
		offset = 0 // the server ignored the range: start again
		if resp.ContentLength >= 0 {
			total = resp.ContentLength
		}
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			os.Remove(part)
			return fmt.Errorf("download %s: asked for bytes from %d, server sent Content-Range %q; partial file discarded",
				url, offset, resp.Header.Get("Content-Range"))
		}
		total = size
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		// The partial file may already be complete.
		return finishPart(part, dest, url, file)
	default:
		return statusError{url: url, code: resp.StatusCode}
	}
	if total < 0 && file.Size > 0 {
		total = file.Size
	}

	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if offset > 0 {
		flags = os.O_WRONLY | os.O_APPEND
	}
	out, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	buf := make([]byte, 256<<10)
	done := offset
	if progress != nil {
		progress(done, total)
	}
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := out.Write(buf[:n]); err != nil {
				out.Close()
				return fmt.Errorf("download %s: write %s: %w", url, part, err)
			}
			done += int64(n)
			if progress != nil {
				progress(done, total)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			out.Close()
			return fmt.Errorf("download %s: after %d bytes (partial file %s kept for resuming): %w", url, done, part, rerr)
		}
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("download %s: %w", url, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	return finishPart(part, dest, url, file)
}

// finishPart checks the complete partial file and renames it into place, or
// deletes it on a checksum mismatch.
func finishPart(part, dest, url string, file File) error {
	if err := verifyFile(part, file); err != nil {
		if errors.Is(err, ErrChecksum) {
			os.Remove(part)
			return fmt.Errorf("download %s: %w (partial file deleted)", url, err)
		}
		return fmt.Errorf("download %s: %w", url, err)
	}
	if err := os.Rename(part, dest); err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	return nil
}

// parseContentRange parses "bytes START-END/SIZE" (SIZE may be "*", giving -1).
func parseContentRange(s string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, sz, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	size = -1
	if sz != "*" {
		if size, err = strconv.ParseInt(sz, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, size, true
}

// verifyFile checks a file against the checksums of file (all that are set).
func verifyFile(path string, file File) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var hs []hash.Hash
	var want []string
	var names []string
	if file.SHA256 != "" {
		hs, want, names = append(hs, sha256.New()), append(want, strings.ToLower(file.SHA256)), append(names, "sha256")
	}
	if file.MD5 != "" {
		hs, want, names = append(hs, md5.New()), append(want, strings.ToLower(file.MD5)), append(names, "md5")
	}
	if len(hs) == 0 {
		return fmt.Errorf("verify %s: no checksum known", path)
	}
	ws := make([]io.Writer, len(hs))
	for i, h := range hs {
		ws[i] = h
	}
	if _, err := io.Copy(io.MultiWriter(ws...), f); err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	for i, h := range hs {
		if got := hex.EncodeToString(h.Sum(nil)); got != want[i] {
			return fmt.Errorf("verify %s: %s %s, want %s: %w", path, names[i], got, want[i], ErrChecksum)
		}
	}
	return nil
}

// verifyFiles checks every file of files in dir.
func verifyFiles(dir string, files []File) error {
	for _, file := range files {
		if err := verifyFile(filepath.Join(dir, file.Name), file); err != nil {
			return err
		}
	}
	return nil
}

// haveExtracted reports whether dir holds every wanted file with its size.
func haveExtracted(dir string, want []extracted) bool {
	if len(want) == 0 {
		return false
	}
	for _, w := range want {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(w.name)))
		if err != nil || !st.Mode().IsRegular() || (w.size > 0 && st.Size() != w.size) {
			return false
		}
	}
	return true
}

// extractTarGz extracts the regular files of a .tar.gz archive into dir.
// Members with names that would leave dir are refused. Each file is written
// under a temporary name and renamed when complete.
func extractTarGz(ctx context.Context, archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("extract %s: %w", archive, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("extract %s: %w", archive, err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w", archive, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := filepath.FromSlash(hdr.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("extract %s: member %q leaves the target folder", archive, hdr.Name)
		}
		dest := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return fmt.Errorf("extract %s: %w", archive, err)
		}
		tmp := dest + ".part"
		out, err := os.Create(tmp)
		if err != nil {
			return fmt.Errorf("extract %s: %w", archive, err)
		}
		_, err = io.Copy(out, tr)
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, dest)
		}
		if err != nil {
			os.Remove(tmp)
			return fmt.Errorf("extract %s: member %s: %w", archive, hdr.Name, err)
		}
	}
}
