package lab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/bionaslab/bionas/nn"
)

// DirExports is the folder of a run folder (and of the lab folder, for
// charts comparing several runs) that exports are written into.
const DirExports = "exports"

// The size of an exported chart: ChartWidth×ChartHeight pixels in a PNG
// (at 96 dots per inch), the same area in points in an SVG.
const (
	ChartWidth  = 800
	ChartHeight = 500
)

// chartDPI is the resolution of PNG charts (gonum/plot's default).
const chartDPI = 96

// ExportNames lists what Lab.Export writes, in menu order: the genotype
// as JSON (the form genotype.json holds), in DARTS' text form and as a
// Graphviz graph, and the loss and accuracy charts as PNG or SVG.
func ExportNames() []string {
	return []string{"genotype.json", "genotype.txt", "genotype.dot", "loss.png", "loss.svg", "acc.png", "acc.svg"}
}

// exportKind splits an export name into the genotype format it writes
// ("json", "darts", "dot") or the chart metric ("loss", "acc") and the
// chart file extension.
func exportKind(what string) (genotypeFormat, metric, ext string, err error) {
	switch what {
	case "genotype.json":
		return "json", "", "", nil
	case "genotype.txt":
		return "darts", "", "", nil
	case "genotype.dot":
		return "dot", "", "", nil
	case "loss.png", "loss.svg", "acc.png", "acc.svg":
		m, e, _ := strings.Cut(what, ".")
		return "", m, "." + e, nil
	}
	return "", "", "", fmt.Errorf("unknown export %q: want one of %s", what, strings.Join(ExportNames(), ", "))
}

// ExportGenotype renders a genotype: "json" is the indented JSON that
// genotype.json holds, "darts" the DARTS repository's text form with the
// rules included (search.Genotype.DARTSText), "dot" a Graphviz digraph of
// both cells (search.Genotype.Dot). Each ends with a newline. The genotype
// is validated first.
func ExportGenotype(g *Genotype, format string) ([]byte, error) {
	if g == nil {
		return nil, errors.New("export genotype: no genotype")
	}
	switch format {
	case "json", "darts", "dot":
	default:
		return nil, fmt.Errorf("export genotype: unknown format %q: want json, darts or dot", format)
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("export genotype: %w", err)
	}
	switch format {
	case "json":
		b, err := json.MarshalIndent(g, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("export genotype: %w", err)
		}
		return append(b, '\n'), nil
	case "darts":
		return []byte(g.DARTSText() + "\n"), nil
	default:
		return []byte(g.Dot()), nil
	}
}

// ExportChart draws the metric of one or more runs against the epoch and
// writes the picture to path, atomically. metric "loss" draws the training
// loss (from step events) and the validation and test losses (from epoch
// events); "acc" the training, validation and test accuracies in percent.
// The epoch is fractional: a step event at step s of a run whose epochs
// have n steps each sits at s/n. Each run has its colour, each series its
// dash pattern, and the legend names them by run ID and title, a run that
// is queued or running marked "(running)". The format follows path's
// extension, .png (ChartWidth×ChartHeight pixels) or .svg; any other is
// an error naming path. Runs without a point of the metric are left out;
// if none has one, that is an error and nothing is written.
func ExportChart(path string, metric string, runs []Snapshot) error {
	format, err := chartFormat(path)
	if err != nil {
		return err
	}
	b, err := renderChart(metric, format, runs)
	if err != nil {
		return fmt.Errorf("export chart %s: %w", path, err)
	}
	if err := nn.WriteFileAtomic(path, b); err != nil {
		return fmt.Errorf("export chart: %w", err)
	}
	return nil
}

// chartFormat is "png" or "svg" from path's extension.
func chartFormat(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".png", ".svg":
		return ext[1:], nil
	default:
		return "", fmt.Errorf("export chart %s: unknown extension %q: want .png or .svg", path, ext)
	}
}

// chartSeries is one line of a chart: its name in the legend, its dash
// pattern, and how it reads a point (ok false: the event has none).
type chartSeries struct {
	name   string
	dashes int
	value  func(e Event) (float64, bool)
}

func metricSeries(metric string) ([]chartSeries, string, float64, error) {
	step := func(f func(Event) float64) func(Event) (float64, bool) {
		return func(e Event) (float64, bool) { v := f(e); return v, e.Kind == EventStep && v >= 0 }
	}
	epoch := func(f func(Event) float64) func(Event) (float64, bool) {
		// Omitted numbers read 0 and diverged ones −1: neither is drawn.
		return func(e Event) (float64, bool) { v := f(e); return v, e.Kind == EventEpoch && v > 0 }
	}
	switch metric {
	case "loss":
		return []chartSeries{
			{"train", 0, step(func(e Event) float64 { return e.Loss })},
			{"val", 1, epoch(func(e Event) float64 { return e.ValLoss })},
			{"test", 2, epoch(func(e Event) float64 { return e.TestLoss })},
		}, "loss", 1, nil
	case "acc":
		return []chartSeries{
			{"train", 0, step(func(e Event) float64 { return e.Acc })},
			{"val", 1, epoch(func(e Event) float64 { return e.ValAcc })},
			{"test", 2, epoch(func(e Event) float64 { return e.TestAcc })},
		}, "accuracy (%)", 100, nil
	}
	return nil, "", 0, fmt.Errorf("unknown metric %q: want loss or acc", metric)
}

// stepsPerEpoch is how many steps one epoch of the run has, from its
// events (TotalSteps/Epochs) or else its record; 0 if neither says.
func stepsPerEpoch(s Snapshot) float64 {
	for _, e := range s.Points {
		if e.Epochs > 0 && e.TotalSteps > 0 {
			return float64(e.TotalSteps) / float64(e.Epochs)
		}
	}
	if m := s.Info.Last; m.Epochs > 0 && m.TotalSteps > 0 {
		return float64(m.TotalSteps) / float64(m.Epochs)
	}
	return 0
}

// epochsOf is the number of epochs the run will do, as far as its events
// or record say.
func epochsOf(s Snapshot) int {
	n := s.Info.Last.Epochs
	for _, e := range s.Points {
		n = max(n, e.Epochs)
	}
	return n
}

// epochOf is the fractional epoch of a point: its step over the steps per
// epoch when both are known, else the end of its epoch (Epoch counts from
// 0) for an epoch event and the start for a step event.
func epochOf(e Event, perEpoch float64) float64 {
	if e.Step > 0 && perEpoch > 0 {
		return float64(e.Step) / perEpoch
	}
	if e.Kind == EventEpoch {
		return float64(e.Epoch + 1)
	}
	return float64(e.Epoch)
}

// runLabel names a run in a legend: "r0002 search mnist darts", with
// "(running)" for a run that has not finished, and its failure or
// interruption otherwise.
func runLabel(info RunInfo) string {
	l := info.ID + " " + info.Title()
	switch {
	case info.Status.Active():
		l += " (running)"
	case info.Status == StatusInterrupted || info.Status == StatusFailed:
		l += " (" + string(info.Status) + ")"
	}
	return l
}

// renderChart draws the chart and encodes it as format ("png", "svg").
func renderChart(metric, format string, runs []Snapshot) ([]byte, error) {
	series, ylabel, scale, err := metricSeries(metric)
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, errors.New("no runs to draw")
	}
	p := plot.New()
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = ylabel
	p.X.Min, p.Y.Min = 0, 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = metric == "loss"
	p.Legend.ThumbnailWidth = 1.5 * vg.Centimeter
	var ids []string
	drawn := 0
	for i, s := range runs {
		ids = append(ids, s.Info.ID)
		per := stepsPerEpoch(s)
		label := runLabel(s.Info)
		for _, cs := range series {
			var xys plotter.XYs
			for _, e := range s.Points {
				if v, ok := cs.value(e); ok {
					xys = append(xys, plotter.XY{X: epochOf(e, per), Y: v * scale})
				}
			}
			if len(xys) == 0 {
				continue
			}
			// A resumed run may repeat steps: draw them in epoch order.
			slices.SortStableFunc(xys, func(a, b plotter.XY) int {
				switch {
				case a.X < b.X:
					return -1
				case a.X > b.X:
					return 1
				}
				return 0
			})
			line, err := plotter.NewLine(xys)
			if err != nil {
				return nil, fmt.Errorf("run %s %s: %w", s.Info.ID, cs.name, err)
			}
			line.Color = plotutil.Color(i)
			line.Width = vg.Points(1.5)
			line.Dashes = plotutil.Dashes(cs.dashes)
			p.Add(line)
			entry := []plot.Thumbnailer{line}
			if cs.name != "train" {
				// Epoch points are few: mark each one.
				sc, err := plotter.NewScatter(xys)
				if err != nil {
					return nil, fmt.Errorf("run %s %s: %w", s.Info.ID, cs.name, err)
				}
				sc.GlyphStyle = draw.GlyphStyle{Color: plotutil.Color(i), Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
				p.Add(sc)
				entry = append(entry, sc)
			}
			p.Legend.Add(label+": "+cs.name, entry...)
			drawn++
		}
	}
	if drawn == 0 {
		return nil, fmt.Errorf("run %s recorded no %s points yet", strings.Join(ids, ", "), metric)
	}
	// A running run's axis spans all its epochs; the curves get headroom.
	for _, s := range runs {
		p.X.Max = max(p.X.Max, float64(epochsOf(s)))
	}
	if metric == "acc" {
		p.Y.Max = max(p.Y.Max, 100)
	} else {
		p.Y.Max *= 1.05
	}
	p.Title.Text = map[string]string{"loss": "Loss", "acc": "Accuracy"}[metric]
	if len(runs) == 1 {
		p.Title.Text += " · " + runs[0].Info.ID + " " + runs[0].Info.Title()
	} else {
		p.Title.Text += " · " + strings.Join(ids, " vs ")
	}
	p.BackgroundColor = color.White
	w, h := vg.Length(ChartWidth)*vg.Inch/chartDPI, vg.Length(ChartHeight)*vg.Inch/chartDPI
	wt, err := p.WriterTo(w, h, format)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// genotypeOf is a run's genotype: a search's latest, else the one a train
// run's spec trains; nil if it has none.
func genotypeOf(s Snapshot) *Genotype {
	if s.Genotype != nil {
		return s.Genotype
	}
	return s.Info.Spec.Genotype
}

// WriteExport writes export what (one of ExportNames) of runs to path,
// atomically. A genotype export takes exactly one run; a chart takes one
// or more, overlaid, and path's extension must be what's (.png, .svg).
func WriteExport(path, what string, runs []Snapshot) error {
	format, metric, ext, err := exportKind(what)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if len(runs) == 0 {
		return fmt.Errorf("export %s: no run given", what)
	}
	if metric != "" {
		if got := strings.ToLower(filepath.Ext(path)); got != ext {
			return fmt.Errorf("export %s to %s: the file must end in %s", what, path, ext)
		}
		return ExportChart(path, metric, runs)
	}
	if len(runs) > 1 {
		return fmt.Errorf("export %s: one run at a time (%d given)", what, len(runs))
	}
	s := runs[0]
	g := genotypeOf(s)
	if g == nil {
		return fmt.Errorf("export %s: run %s has no genotype yet", what, s.Info.ID)
	}
	b, err := ExportGenotype(g, format)
	if err != nil {
		return fmt.Errorf("export %s of run %s: %w", what, s.Info.ID, err)
	}
	if err := nn.WriteFileAtomic(path, b); err != nil {
		return fmt.Errorf("export %s: %w", what, err)
	}
	return nil
}

// Export writes export what (one of ExportNames) of run id into the run
// folder's exports/ folder and returns the file's path. It fails, saying
// so, for an unknown what, an unknown run, a genotype export of a run that
// has no genotype yet, and a chart of a run that has no points yet.
func (l *Lab) Export(id string, what string) (path string, err error) {
	if _, _, _, err := exportKind(what); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	s, err := l.Snapshot(id)
	if err != nil {
		return "", fmt.Errorf("export %s: %w", what, err)
	}
	return exportSnapshot(l.RunDir(id), what, s)
}

// exportSnapshot writes what of s into runDir/exports/.
func exportSnapshot(runDir, what string, s Snapshot) (string, error) {
	dir := filepath.Join(runDir, DirExports)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("export %s: %w", what, err)
	}
	path := filepath.Join(dir, what)
	if err := WriteExport(path, what, []Snapshot{s}); err != nil {
		return "", err
	}
	return path, nil
}

// ReadSnapshot reads run id of the lab folder labDir from its files
// (run.json, metrics.jsonl, genotype.json, genotype.txt), without opening
// the lab: it works while another process (the TUI, bionas serve) holds
// the lab, whose writes are atomic, and sees a running run as of its last
// flush. Only the record, the points and the genotype are filled in.
func ReadSnapshot(labDir, id string) (Snapshot, error) {
	if id == "" || id != filepath.Base(id) || strings.HasPrefix(id, ".") {
		return Snapshot{}, fmt.Errorf("no run %q", id)
	}
	dir := filepath.Join(labDir, runsDir, id)
	info, ok, err := readRunInfo(dir)
	if err != nil {
		return Snapshot{}, fmt.Errorf("run %s: %w", id, err)
	}
	if !ok {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return Snapshot{}, fmt.Errorf("no run %q in lab %s", id, labDir)
		}
		return Snapshot{}, fmt.Errorf("run %s: no %s in %s", id, FileRun, dir)
	}
	info.ID = id
	s := Snapshot{Info: info}
	pts, err := readMetrics(filepath.Join(dir, FileMetrics))
	if err != nil {
		return Snapshot{}, fmt.Errorf("run %s: %w", id, err)
	}
	for _, p := range pts {
		if p.IsPoint() {
			s.Points = append(s.Points, p)
		}
	}
	s.Seq = uint64(len(s.Points))
	var g Genotype
	if ok, err := readJSON(filepath.Join(dir, FileGenotype), &g); err != nil {
		return Snapshot{}, fmt.Errorf("run %s: %w", id, err)
	} else if ok {
		s.Genotype = &g
		if b, err := os.ReadFile(filepath.Join(dir, FileGenotypeText)); err == nil {
			s.GenotypeText = strings.TrimSpace(string(b))
		}
	}
	return s, nil
}

// ExportDir is Export for a lab folder that this process has not opened
// (ReadSnapshot): it writes what of run id into the run's exports/ folder
// and returns the path.
func ExportDir(labDir, id, what string) (string, error) {
	if _, _, _, err := exportKind(what); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	s, err := ReadSnapshot(labDir, id)
	if err != nil {
		return "", fmt.Errorf("export %s: %w", what, err)
	}
	return exportSnapshot(filepath.Join(labDir, runsDir, id), what, s)
}

// CompareExportPath is where a comparison's chart export goes: the lab's
// exports/ folder, named by the runs it overlays and the export
// ("compare-r0002-r0003-loss.svg"). The CLI and the TUI both write there.
func CompareExportPath(labDir string, ids []string, what string) string {
	return filepath.Join(labDir, DirExports, "compare-"+strings.Join(ids, "-")+"-"+what)
}
