package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer serves named files with http.ServeContent (which honours Range)
// and records the Range header of every request. A file listed in cut is
// served whole in its Content-Length but the connection breaks after that
// many bytes, the given number of times.
type testServer struct {
	*httptest.Server
	mu          sync.Mutex
	files       map[string][]byte
	cut         map[string]int // bytes sent before breaking
	cutTimes    map[string]int
	ignoreRange bool
	ranges      []string
}

func newTestServer(t *testing.T, files map[string][]byte) *testServer {
	s := &testServer{files: files, cut: map[string]int{}, cutTimes: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	body, ok := s.files[name]
	cut, cutting := s.cut[name], s.cutTimes[name] > 0
	if cutting {
		s.cutTimes[name]--
	}
	ignore := s.ignoreRange
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if cutting {
		start := 0
		if rg := r.Header.Get("Range"); rg != "" && !ignore {
			fmt.Sscanf(rg, "bytes=%d-", &start)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(body)-1, len(body)))
			w.Header().Set("Content-Length", fmt.Sprint(len(body)-start))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		}
		w.Write(body[start:min(start+cut, len(body))])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // break the connection
	}
	if ignore {
		r.Header.Del("Range")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
}

func (s *testServer) seenRanges() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

func sums(b []byte) (sha, md string) {
	h := sha256.Sum256(b)
	m := md5.Sum(b)
	return hex.EncodeToString(h[:]), hex.EncodeToString(m[:])
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestDownload(t *testing.T) {
	body := payload(300_000)
	sha, md := sums(body)
	srv := newTestServer(t, map[string][]byte{"f.bin": body})
	dir := t.TempDir()
	dest := filepath.Join(dir, "f.bin")
	var last, total int64
	monotonic := true
	err := Download(context.Background(), srv.Client(), File{Name: "f.bin", URLs: []string{srv.URL + "/f.bin"}, SHA256: sha, MD5: md}, dest,
		func(done, tot int64) {
			if done < last {
				monotonic = false
			}
			last, total = done, tot
		})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dest)
	if !bytes.Equal(got, body) {
		t.Fatal("content differs")
	}
	if !monotonic || last != int64(len(body)) || total != int64(len(body)) {
		t.Fatalf("progress ended at %d/%d (monotonic %v)", last, total, monotonic)
	}
	if _, err := os.Stat(dest + ".part"); !os.IsNotExist(err) {
		t.Fatal("partial file left")
	}
}

func TestDownloadResume(t *testing.T) {
	body := payload(200_000)
	sha, _ := sums(body)
	for _, ignoreRange := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignoreRange=%v", ignoreRange), func(t *testing.T) {
			srv := newTestServer(t, map[string][]byte{"f.bin": body})
			srv.cut["f.bin"], srv.cutTimes["f.bin"] = 70_000, 1
			srv.ignoreRange = ignoreRange
			dest := filepath.Join(t.TempDir(), "f.bin")
			file := File{Name: "f.bin", URLs: []string{srv.URL + "/f.bin"}, SHA256: sha}
			err := Download(context.Background(), srv.Client(), file, dest, nil)
			if err == nil {
				t.Fatal("broken download succeeded")
			}
			if _, err := os.Stat(dest); !os.IsNotExist(err) {
				t.Fatal("incomplete file renamed into place")
			}
			st, err := os.Stat(dest + ".part")
			if err != nil || st.Size() != 70_000 {
				t.Fatalf("partial file: %v (size %v)", err, st)
			}
			var first int64 = -1
			if err := Download(context.Background(), srv.Client(), file, dest, func(done, total int64) {
				if first < 0 {
					first = done
				}
			}); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(dest)
			if !bytes.Equal(got, body) {
				t.Fatal("resumed content differs")
			}
			if r := srv.seenRanges(); len(r) != 2 || r[0] != "" || r[1] != "bytes=70000-" {
				t.Fatalf("Range headers %q, want none then bytes=70000-", r)
			}
			wantFirst := int64(70_000)
			if ignoreRange {
				wantFirst = 0 // the server sent everything again
			}
			if first != wantFirst {
				t.Fatalf("progress started at %d, want %d", first, wantFirst)
			}
		})
	}
}

func TestDownloadChecksumMismatch(t *testing.T) {
	body := payload(50_000)
	_, md := sums(append([]byte("x"), body...))
	srv := newTestServer(t, map[string][]byte{"f.bin": body})
	dest := filepath.Join(t.TempDir(), "f.bin")
	err := Download(context.Background(), srv.Client(), File{Name: "f.bin", URLs: []string{srv.URL + "/f.bin"}, MD5: md}, dest, nil)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "want "+md) {
		t.Fatalf("err = %v, want ErrChecksum naming the expected sum", err)
	}
	for _, p := range []string{dest, dest + ".part"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s exists after a checksum mismatch", p)
		}
	}
}

func TestDownloadCompletePart(t *testing.T) {
	// A complete .part (the process died before renaming): the server
	// answers 416 to the range, and the part is verified and renamed.
	body := payload(1000)
	sha, _ := sums(body)
	srv := newTestServer(t, map[string][]byte{"f.bin": body})
	dest := filepath.Join(t.TempDir(), "f.bin")
	writeFile(t, dest+".part", body)
	if err := Download(context.Background(), srv.Client(), File{Name: "f.bin", URLs: []string{srv.URL + "/f.bin"}, SHA256: sha}, dest, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, body) {
		t.Fatal("content differs")
	}
}

func TestDownloadErrors(t *testing.T) {
	srv := newTestServer(t, map[string][]byte{})
	dest := filepath.Join(t.TempDir(), "f.bin")
	err := Download(context.Background(), srv.Client(), File{Name: "f.bin", URLs: []string{srv.URL + "/f.bin"}, SHA256: "00"}, dest, nil)
	var se statusError
	if !errors.As(err, &se) || se.code != 404 {
		t.Fatalf("err = %v, want a 404", err)
	}
	if err := Download(context.Background(), nil, File{Name: "f", URLs: []string{srv.URL}}, dest, nil); err == nil {
		t.Fatal("download without checksum accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Download(ctx, srv.Client(), File{Name: "f", URLs: []string{srv.URL}, MD5: "00"}, dest, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled download: %v", err)
	}
}

// TestFetchRetriesAndMirrors: fetch moves past a missing mirror and a bad
// mirror (checksum mismatch), and resumes a broken download on the retry,
// all in one call; a second call downloads nothing.
func TestFetchRetriesAndMirrors(t *testing.T) {
	a, b := payload(120_000), payload(5_000)[1000:]
	shaA, _ := sums(a)
	_, mdB := sums(b)
	good := newTestServer(t, map[string][]byte{"a.gz": a, "b.gz": b})
	good.cut["a.gz"], good.cutTimes["a.gz"] = 50_000, 1
	bad := newTestServer(t, map[string][]byte{"a.gz": payload(120_000)[1:]})
	src := source{name: "test", files: []File{
		{Name: "a.gz", URLs: []string{good.URL + "/missing", bad.URL + "/a.gz", good.URL + "/a.gz"}, SHA256: shaA, Size: int64(len(a))},
		{Name: "b.gz", URLs: []string{good.URL + "/b.gz"}, MD5: mdB, Size: int64(len(b))},
	}}
	dir := filepath.Join(t.TempDir(), "new")
	f := fetcher{client: good.Client(), attempts: 3, wait: time.Millisecond}
	var done, total int64
	if err := f.fetch(context.Background(), src, dir, func(d, tot int64) { done, total = d, tot }); err != nil {
		t.Fatal(err)
	}
	if done != total || total != int64(len(a)+len(b)) {
		t.Fatalf("progress %d/%d", done, total)
	}
	for name, want := range map[string][]byte{"a.gz": a, "b.gz": b} {
		if got, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(got, want) {
			t.Fatalf("%s differs", name)
		}
	}
	r := good.seenRanges()
	if !strings.Contains(strings.Join(r, ","), "bytes=50000-") {
		t.Fatalf("no resumed request: ranges %q", r)
	}
	n := len(r)
	if err := f.fetch(context.Background(), src, dir, nil); err != nil {
		t.Fatal(err)
	}
	if len(good.seenRanges()) != n {
		t.Fatal("second fetch downloaded again")
	}
}

func targz(t *testing.T, files map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	for name, b := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestFetchArchive(t *testing.T) {
	members := map[string][]byte{"cifar-10-batches-bin/batches.meta.txt": []byte("airplane\n")}
	var want []extracted
	for f := 1; f <= 5; f++ {
		name := fmt.Sprintf("cifar-10-batches-bin/data_batch_%d.bin", f)
		members[name] = cifarRecords(f, 2, func(i int) []byte { return []byte{byte(i)} })
		want = append(want, extracted{name, 2 * cifar10Record})
	}
	members["cifar-10-batches-bin/test_batch.bin"] = cifarRecords(0, 1, func(int) []byte { return []byte{3} })
	archive := targz(t, members)
	_, md := sums(archive)
	srv := newTestServer(t, map[string][]byte{"cifar-10-binary.tar.gz": archive})
	src, err := officialSource("cifar10")
	if err != nil {
		t.Fatal(err)
	}
	src.files[0].URLs = []string{srv.URL + "/cifar-10-binary.tar.gz"}
	src.files[0].MD5 = md
	src.want = want
	dir := t.TempDir()
	f := fetcher{client: srv.Client(), attempts: 1}
	if err := f.fetch(context.Background(), src, dir, nil); err != nil {
		t.Fatal(err)
	}
	ds, err := CIFAR10(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 10 {
		t.Fatalf("Len %d", ds.Len())
	}
	if _, err := os.Stat(filepath.Join(dir, "cifar-10-binary.tar.gz")); !os.IsNotExist(err) {
		t.Fatal("archive kept after extraction")
	}
	// Extracted files present: nothing is downloaded again.
	n := len(srv.seenRanges())
	if err := f.fetch(context.Background(), src, dir, nil); err != nil || len(srv.seenRanges()) != n {
		t.Fatalf("second fetch: %v, %d requests", err, len(srv.seenRanges())-n)
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	dir := t.TempDir()
	archive := writeFile(t, filepath.Join(dir, "a.tar.gz"), targz(t, map[string][]byte{"../evil": []byte("x")}))
	err := extractTarGz(context.Background(), archive, filepath.Join(dir, "out"))
	if err == nil || !strings.Contains(err.Error(), "leaves the target folder") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "evil")); !os.IsNotExist(err) {
		t.Fatal("escaped file written")
	}
}

func TestFetchManualAndSynthetic(t *testing.T) {
	if err := Fetch(context.Background(), "synthetic", t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err := Fetch(context.Background(), "imagenet16-120", dir, nil)
	if err == nil || !strings.Contains(err.Error(), "no public direct download") || !strings.Contains(err.Error(), filepath.Join(dir, "train_data_batch_1")) {
		t.Fatalf("err = %v", err)
	}
	// Files present but corrupt: the MD5 check names the file.
	for _, f := range imagenet16Files() {
		writeFile(t, filepath.Join(dir, f.Name), []byte("x"))
	}
	err = Fetch(context.Background(), "imagenet16-120", dir, nil)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "want 27846dcaa50de8e21a7d1a35f30f0e91") {
		t.Fatalf("err = %v", err)
	}
	if err := Fetch(context.Background(), "svhn", dir, nil); err == nil {
		t.Fatal("unknown dataset fetched")
	}
}

func TestParseContentRange(t *testing.T) {
	for in, want := range map[string][3]int64{
		"bytes 100-199/200": {100, 200, 1},
		"bytes 0-9/*":       {0, -1, 1},
		"bytes x-9/10":      {0, 0, 0},
		"items 0-9/10":      {0, 0, 0},
	} {
		s, n, ok := parseContentRange(in)
		if ok != (want[2] == 1) || (ok && (s != want[0] || n != want[1])) {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", in, s, n, ok)
		}
	}
}
