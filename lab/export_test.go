package lab_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image"
	_ "image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
	"github.com/bionaslab/bionas/search"
)

// exportGenotype is DARTS_V2 with rules mixed in, bp on two edges.
const exportGenotypeText = `Genotype(normal=[('sep_conv_3x3:fa', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3:brsf', 0), ('sep_conv_3x3:frsf', 1), ('sep_conv_3x3:fa', 1), ('skip_connect:usf', 0), ('skip_connect:fa', 0), ('dil_conv_3x3:frsf', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3:fa', 0), ('max_pool_3x3:usf', 1), ('skip_connect', 2), ('max_pool_3x3:fa', 1), ('max_pool_3x3:frsf', 0), ('skip_connect:fa', 2), ('skip_connect:usf', 2), ('dil_conv_5x5:brsf', 1)], reduce_concat=range(2, 6))`

func exportGenotype(t *testing.T) *lab.Genotype {
	t.Helper()
	g, err := search.ParseGenotype(exportGenotypeText)
	if err != nil {
		t.Fatal(err)
	}
	return &g
}

func TestExportGenotype(t *testing.T) {
	g := exportGenotype(t)
	for _, tc := range []struct {
		format string
		check  func(t *testing.T, b []byte)
		err    string
	}{
		{format: "json", check: func(t *testing.T, b []byte) {
			var back lab.Genotype
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !back.Equal(*g) {
				t.Errorf("JSON round trip changed the genotype")
			}
			if !bytes.HasPrefix(b, []byte("{\n  \"normal\": {\n    \"edges\": [\n")) || !bytes.HasSuffix(b, []byte("}\n")) {
				t.Errorf("not genotype.json's indented form:\n%s", b)
			}
		}},
		{format: "darts", check: func(t *testing.T, b []byte) {
			if string(b) != exportGenotypeText+"\n" {
				t.Errorf("darts text:\n got %s\nwant %s", b, exportGenotypeText)
			}
		}},
		{format: "dot", check: func(t *testing.T, b []byte) { checkDot(t, string(b), 2*(8+4)) }},
		{format: "yaml", err: `unknown format "yaml": want json, darts or dot`},
		{format: "", err: `unknown format ""`},
	} {
		t.Run(tc.format, func(t *testing.T) {
			b, err := lab.ExportGenotype(g, tc.format)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, b)
		})
	}
	if _, err := lab.ExportGenotype(nil, "json"); err == nil || !strings.Contains(err.Error(), "no genotype") {
		t.Errorf("nil genotype: %v", err)
	}
	bad := g.Clone()
	bad.Normal.Edges[0].From = 5
	if _, err := lab.ExportGenotype(bad, "dot"); err == nil || !strings.Contains(err.Error(), "normal cell") {
		t.Errorf("invalid genotype: %v", err)
	}
}

var (
	dotNode  = regexp.MustCompile(`^"([^"\\]+)" \[label="[^"\\]*", fillcolor=[a-z0-9]+\];$`)
	dotEdge  = regexp.MustCompile(`^"([^"\\]+)" -> "([^"\\]+)" \[(label="[^"\\]*"|color=gray)\];$`)
	dotAttr  = regexp.MustCompile(`^(rankdir=LR|label="[^"\\]*"|(node|edge) \[[^\]]*\]);$`)
	dotGraph = regexp.MustCompile(`^(digraph [a-z]+|subgraph "cluster_[a-z]+") \{$`)
)

// checkDot checks that src is a DOT digraph: with Graphviz installed, by
// rendering it (dot -Tsvg); always, by its structure: balanced braces,
// every line a graph, node, edge or attribute statement, every edge
// between declared nodes, and the expected number of edges.
func checkDot(t *testing.T, src string, edges int) {
	t.Helper()
	if path, err := exec.LookPath("dot"); err == nil {
		cmd := exec.Command(path, "-Tsvg")
		cmd.Stdin = strings.NewReader(src)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 || !bytes.Contains(out, []byte("<svg")) {
			t.Fatalf("dot -Tsvg: %v %s\n%s", err, stderr.Bytes(), src)
		}
	} else {
		t.Log("Graphviz is not installed: checking the DOT structurally only")
	}
	depth, nodes, n := 0, map[string]bool{}, 0
	for i, line := range strings.Split(strings.TrimSuffix(src, "\n"), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case dotGraph.MatchString(l):
			if (i == 0) != strings.HasPrefix(l, "digraph") || (i > 0 && depth != 1) {
				t.Fatalf("line %d: %q out of place", i+1, l)
			}
			depth++
		case l == "}":
			if depth--; depth < 0 {
				t.Fatalf("line %d: unbalanced }", i+1)
			}
		case depth == 0:
			t.Fatalf("line %d: %q outside the graph", i+1, l)
		case dotAttr.MatchString(l):
		case dotNode.MatchString(l):
			nodes[dotNode.FindStringSubmatch(l)[1]] = true
		case dotEdge.MatchString(l):
			m := dotEdge.FindStringSubmatch(l)
			if !nodes[m[1]] || !nodes[m[2]] {
				t.Fatalf("line %d: edge between undeclared nodes: %q", i+1, l)
			}
			n++
		default:
			t.Fatalf("line %d: not a DOT statement: %q", i+1, l)
		}
	}
	if depth != 0 {
		t.Fatalf("%d unclosed braces", depth)
	}
	if n != edges {
		t.Fatalf("%d edges, want %d", n, edges)
	}
}

// chartRun is a snapshot of a run as the lab holds it: epochs of
// stepsPerEpoch step events and an epoch event each, as the fake search
// (train: test instead of validation numbers) emits them.
func chartRun(id string, kind lab.Kind, status lab.Status, epochs, stepsPerEpoch, done int) lab.Snapshot {
	s := lab.Snapshot{Info: lab.RunInfo{ID: id, Kind: kind, Status: status,
		Spec: lab.Spec{Kind: kind, Dataset: "mnist", Method: "darts"}}}
	total := epochs * stepsPerEpoch
	for step := 1; step <= done; step++ {
		ep := (step - 1) / stepsPerEpoch
		s.Points = append(s.Points, lab.Event{Run: id, Kind: lab.EventStep, Epoch: ep, Epochs: epochs, Step: step, TotalSteps: total,
			Loss: labtest.Loss(step), Acc: 1 - labtest.Loss(step)/2.4})
		if step%stepsPerEpoch == 0 {
			e := lab.Event{Run: id, Kind: lab.EventEpoch, Epoch: ep, Epochs: epochs, Step: step, TotalSteps: total}
			if kind == lab.KindSearch {
				e.ValLoss, e.ValAcc = labtest.Loss(step)+0.1, 0.9
			} else {
				e.TestLoss, e.TestAcc = labtest.Loss(step)+0.2, 0.85
			}
			s.Points = append(s.Points, e)
		}
	}
	return s
}

// svgText is every text of an SVG document, checking on the way that it
// is well-formed XML with an <svg> root.
func svgText(t *testing.T, b []byte) string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var text strings.Builder
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tk.Name.Local
			}
		case xml.CharData:
			text.Write(tk)
			text.WriteByte('\n')
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return text.String()
}

func TestExportChart(t *testing.T) {
	dir := t.TempDir()
	done := chartRun("r0002", lab.KindSearch, lab.StatusDone, 3, 8, 24)
	running := chartRun("r0003", lab.KindTrain, lab.StatusRunning, 4, 5, 12)
	running.Info.Parent = "r0002"
	empty := chartRun("r0004", lab.KindSearch, lab.StatusQueued, 2, 5, 0)
	for _, tc := range []struct {
		name, file, metric string
		runs               []lab.Snapshot
		want, not          []string // in the SVG's texts
		err                string
	}{
		{name: "loss png", file: "loss.png", metric: "loss", runs: []lab.Snapshot{done}},
		{name: "acc png overlaid", file: "acc.PNG", metric: "acc", runs: []lab.Snapshot{done, running}},
		{name: "loss svg", file: "loss.svg", metric: "loss", runs: []lab.Snapshot{done},
			want: []string{"r0002 search mnist darts: train", "r0002 search mnist darts: val", "epoch", "loss"},
			not:  []string{"(running)", "test"}},
		{name: "acc svg overlaid", file: "acc.svg", metric: "acc", runs: []lab.Snapshot{done, running},
			want: []string{"Accuracy · r0002 vs r0003", "r0002 search mnist darts: val", "r0003 train r0002 (running): train",
				"r0003 train r0002 (running): test", "accuracy (%)"}},
		{name: "a run without points is left out", file: "loss2.svg", metric: "loss", runs: []lab.Snapshot{empty, done},
			want: []string{"r0002 search mnist darts: train"}, not: []string{"r0004 search"}},
		{name: "jpeg", file: "loss.jpg", metric: "loss", runs: []lab.Snapshot{done}, err: `loss.jpg: unknown extension ".jpg": want .png or .svg`},
		{name: "no extension", file: "loss", metric: "loss", runs: []lab.Snapshot{done}, err: `unknown extension "": want .png or .svg`},
		{name: "metric", file: "f1.png", metric: "f1", runs: []lab.Snapshot{done}, err: `unknown metric "f1": want loss or acc`},
		{name: "no points", file: "none.png", metric: "acc", runs: []lab.Snapshot{empty}, err: "run r0004 recorded no acc points yet"},
		{name: "no runs", file: "none.svg", metric: "acc", err: "no runs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			err := lab.ExportChart(path, tc.metric, tc.runs)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a failed export left %s", path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(strings.ToLower(tc.file), ".png") {
				if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
					t.Fatalf("no PNG magic: % x", b[:min(8, len(b))])
				}
				cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
				if err != nil || format != "png" || cfg.Width != lab.ChartWidth || cfg.Height != lab.ChartHeight {
					t.Fatalf("PNG %s %d×%d (%v), want %d×%d", format, cfg.Width, cfg.Height, err, lab.ChartWidth, lab.ChartHeight)
				}
				return
			}
			text := svgText(t, b)
			for _, id := range tc.runs {
				if len(id.Points) > 0 && !strings.Contains(text, id.Info.ID) {
					t.Errorf("SVG lacks run %s", id.Info.ID)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("SVG lacks %q; its texts:\n%s", w, text)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(text, w) {
					t.Errorf("SVG has %q; its texts:\n%s", w, text)
				}
			}
		})
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
}

// TestLabExport: every export of a finished search lands in its folder's
// exports/, the same from the open lab and from the folder alone; a run
// without a genotype and an unknown name are refused, saying why.
func TestLabExport(t *testing.T) {
	dir := t.TempDir()
	l := openLab(t, dir, &labtest.Fake{})
	info, err := l.Start(lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny"})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, l, info.ID)
	snap, err := l.Snapshot(info.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The folder is flushed at the end of the run.
	waitFor(t, "genotype.json on disk", func() bool {
		_, err := os.Stat(filepath.Join(l.RunDir(info.ID), lab.FileGenotype))
		return err == nil
	})
	for _, what := range lab.ExportNames() {
		t.Run(what, func(t *testing.T) {
			path, err := l.Export(info.ID, what)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(l.RunDir(info.ID), lab.DirExports, what); path != want {
				t.Fatalf("path %s, want %s", path, want)
			}
			b, err := os.ReadFile(path)
			if err != nil || len(b) == 0 {
				t.Fatalf("read %s: %v (%d bytes)", path, err, len(b))
			}
			switch what {
			case "genotype.txt":
				if want := snap.Genotype.DARTSText() + "\n"; string(b) != want {
					t.Errorf("genotype.txt = %s, want %s", b, want)
				}
			case "genotype.json":
				disk, _ := os.ReadFile(filepath.Join(l.RunDir(info.ID), lab.FileGenotype))
				if !bytes.Equal(b, disk) {
					t.Errorf("exported genotype.json differs from the run's:\n%s\n%s", b, disk)
				}
			case "genotype.dot":
				checkDot(t, string(b), 24)
			}
			// From the folder alone (another process holds the lab): the
			// same file.
			os.Remove(path)
			path2, err := lab.ExportDir(dir, info.ID, what)
			if err != nil {
				t.Fatal(err)
			}
			b2, _ := os.ReadFile(path2)
			if path2 != path || (!strings.HasSuffix(what, ".png") && !bytes.Equal(b, b2)) {
				t.Errorf("ExportDir wrote %s (%d bytes), Export %s (%d bytes)", path2, len(b2), path, len(b))
			}
		})
	}
	for _, tc := range []struct{ id, what, err string }{
		{info.ID, "loss.jpg", `unknown export "loss.jpg": want one of genotype.json, genotype.txt, genotype.dot, loss.png, loss.svg, acc.png, acc.svg`},
		{info.ID, "", `unknown export ""`},
		{"r0099", "loss.png", `no run "r0099"`},
	} {
		if _, err := l.Export(tc.id, tc.what); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Export(%q, %q): %v, want %q", tc.id, tc.what, err, tc.err)
		}
		if _, err := lab.ExportDir(dir, tc.id, tc.what); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ExportDir(%q, %q): %v, want %q", tc.id, tc.what, err, tc.err)
		}
	}
	for _, id := range []string{"../runs/r0001", ".", ""} {
		if _, err := lab.ReadSnapshot(dir, id); err == nil {
			t.Errorf("ReadSnapshot(%q) accepted a path", id)
		}
	}
	// A run with no genotype yet.
	none := chartRun("r0007", lab.KindSearch, lab.StatusRunning, 2, 5, 3)
	err = lab.WriteExport(filepath.Join(t.TempDir(), "g.txt"), "genotype.txt", []lab.Snapshot{none})
	if err == nil || !strings.Contains(err.Error(), "run r0007 has no genotype yet") {
		t.Errorf("genotype of a run without one: %v", err)
	}
	// A chart written to a file of another type.
	err = lab.WriteExport(filepath.Join(t.TempDir(), "chart.svg"), "loss.png", []lab.Snapshot{none})
	if err == nil || !strings.Contains(err.Error(), "must end in .png") {
		t.Errorf("loss.png to a .svg file: %v", err)
	}
	// The snapshot read from disk is the lab's.
	disk, err := lab.ReadSnapshot(dir, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(disk.Points) != len(snap.Points) || !disk.Genotype.Equal(*snap.Genotype) || disk.Info.Status != lab.StatusDone {
		t.Errorf("ReadSnapshot: %d points, status %s; the lab has %d", len(disk.Points), disk.Info.Status, len(snap.Points))
	}
}
