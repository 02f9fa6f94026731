package lab

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/bionaslab/bionas/search"
)

// The dynamics study trains the mixed network and each single-rule one
// with search.Train's probes on (Spec.Dynamics): at initialisation and
// after every epoch, per layer, the variance of the weight gradient over
// 8 fixed mini-batches (Fig. 3), the angle between the feedback matrix and
// W, the angle between the input gradient the rules propagate and the
// true one (§7.2), and the weights' distribution (Fig. 4–6). The report
// averages over layers (each layer counts once) and seeds.

// DynamicsRow is one variant at one probed epoch, averaged over the layers
// (where the quantity is defined) and the seeds.
type DynamicsRow struct {
	Variant string `json:"variant"`
	Epoch   int    `json:"epoch"`
	// GradVar is the mean over layers of the per-weight gradient variance
	// across the probe batches; RelVar the mean of GradVar/GradMean2 (the
	// variance relative to the squared mean gradient: scale-free).
	GradVar float64 `json:"grad_var"`
	RelVar  float64 `json:"rel_var"`
	// AngleBW and AngleGrad are mean angles in degrees (NaN: no layer has
	// one, e.g. bp's AngleBW is 0 and dfa has none).
	AngleBW   float64 `json:"angle_bw"`
	AngleGrad float64 `json:"angle_grad"`
	// Kurtosis is the mean excess kurtosis of the layers' weights.
	Kurtosis float64  `json:"kurtosis"`
	Runs     []string `json:"runs"`
}

// String is the row as one line of text.
func (r DynamicsRow) String() string {
	return fmt.Sprintf("%-8s epoch %d  grad var %.3g  rel %.3g  ∠(B,W) %s  ∠(rule,true) %s  kurtosis %.2f",
		r.Variant, r.Epoch, r.GradVar, r.RelVar, deg(r.AngleBW), deg(r.AngleGrad), r.Kurtosis)
}

func deg(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.1f°", v)
}

// layerMean averages f over the layers where it is finite (NaN if none).
func layerMean(ls []search.LayerDynamics, f func(search.LayerDynamics) float64) float64 {
	var s float64
	n := 0
	for _, l := range ls {
		if v := f(l); !math.IsNaN(v) && !math.IsInf(v, 0) {
			s += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// nanMean averages the finite values (NaN if none).
func nanMean(xs []float64) float64 {
	var s float64
	n := 0
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			s += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

func (l *Lab) dynamicsReport(st *Study, rep *StudyReport, dir string, md *strings.Builder) error {
	type key struct {
		variant string
		epoch   int
	}
	type acc struct {
		gv, rv, abw, ag, ku []float64
		runs                []string
	}
	cells := map[key]*acc{}
	var variants []string
	finals := map[string][]search.LayerDynamics{} // the last probe of each variant's first seed
	for _, c := range st.Cells {
		info, ok := l.Run(c.Run)
		if !ok || info.Status != StatusDone {
			continue
		}
		b, err := os.ReadFile(filepath.Join(l.RunDir(c.Run), FileDynamics))
		if err != nil {
			return fmt.Errorf("run %s: %w", c.Run, err)
		}
		probes, err := ParseDynamics(b)
		if err != nil {
			return fmt.Errorf("run %s: %w", c.Run, err)
		}
		if !slices.Contains(variants, c.Variant) {
			variants = append(variants, c.Variant)
		}
		for _, p := range probes {
			k := key{c.Variant, p.Epoch}
			a, ok := cells[k]
			if !ok {
				a = &acc{}
				cells[k] = a
			}
			a.gv = append(a.gv, layerMean(p.Layers, func(x search.LayerDynamics) float64 { return x.GradVar }))
			a.rv = append(a.rv, layerMean(p.Layers, func(x search.LayerDynamics) float64 {
				if x.GradMean2 <= 0 {
					return math.NaN()
				}
				return x.GradVar / x.GradMean2
			}))
			a.abw = append(a.abw, layerMean(p.Layers, func(x search.LayerDynamics) float64 { return x.AngleBW }))
			a.ag = append(a.ag, layerMean(p.Layers, func(x search.LayerDynamics) float64 { return x.AngleGrad }))
			a.ku = append(a.ku, layerMean(p.Layers, func(x search.LayerDynamics) float64 { return x.Kurtosis }))
			a.runs = append(a.runs, c.Run)
		}
		if _, ok := finals[c.Variant]; !ok && len(probes) > 0 {
			finals[c.Variant] = probes[len(probes)-1].Layers
		}
	}
	keys := make([]key, 0, len(cells))
	for k := range cells {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(variantOrder(a.variant), variantOrder(b.variant)), cmp.Compare(a.epoch, b.epoch))
	})
	for _, k := range keys {
		a := cells[k]
		rep.Dynamics = append(rep.Dynamics, DynamicsRow{Variant: k.variant, Epoch: k.epoch, GradVar: nanMean(a.gv), RelVar: nanMean(a.rv),
			AngleBW: nanMean(a.abw), AngleGrad: nanMean(a.ag), Kurtosis: nanMean(a.ku), Runs: a.runs})
	}
	rep.Claims = dynamicsClaims(rep.Dynamics)

	fmt.Fprintf(md, "## Training dynamics\n\nProbed at initialisation (epoch 0) and after every epoch on 8 fixed training mini-batches of 64 (training-mode forwards; nothing the training uses is changed). Per layer: *grad var*, the variance of each weight's gradient across the 8 batches under the layer's own rule, averaged over the weights; *rel*, that variance over the squared mean gradient; *∠(B,W)*, the angle between the feedback matrix and W (0 for bp; none for dfa, Hebbian and pc layers); *∠(rule,true)*, the angle between the gradient the rules send to the layer's input and the true one; *kurtosis*, the weights' excess kurtosis. Each number is the mean over layers where it is defined, then over seeds.\n\n")
	fmt.Fprintf(md, "| variant | epoch | grad var | rel var | ∠(B,W) | ∠(rule,true) | kurtosis | runs |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Dynamics {
		fmt.Fprintf(md, "| %s | %d | %.3g | %.3g | %s | %s | %.2f | %s |\n", r.Variant, r.Epoch, r.GradVar, r.RelVar, deg(r.AngleBW), deg(r.AngleGrad), r.Kurtosis, strings.Join(r.Runs, " "))
	}
	writeClaims(md, rep.Claims)
	for _, q := range []struct {
		name, title, y string
		f              func(DynamicsRow) float64
		log            bool
	}{
		{"dynamics-gradvar", "Gradient variance per epoch (Fig. 3)", "mean per-weight gradient variance", func(r DynamicsRow) float64 { return r.GradVar }, true},
		{"dynamics-relvar", "Relative gradient variance per epoch", "variance / squared mean gradient", func(r DynamicsRow) float64 { return r.RelVar }, true},
		{"dynamics-angle-grad", "Angle between the rules' and the true input gradient", "degrees", func(r DynamicsRow) float64 { return r.AngleGrad }, false},
		{"dynamics-angle-bw", "Angle between B and W (§7.2)", "degrees", func(r DynamicsRow) float64 { return r.AngleBW }, false},
		{"dynamics-kurtosis", "Excess kurtosis of the weights (Fig. 4–6)", "excess kurtosis", func(r DynamicsRow) float64 { return r.Kurtosis }, false},
	} {
		plots, err := writeEpochPlot(dir, q.name, q.title, q.y, rep.Dynamics, variants, q.f, q.log)
		if err != nil {
			return err
		}
		if len(plots) > 0 {
			rep.Plots = append(rep.Plots, plots...)
			fmt.Fprintf(md, "\n![%s](%s)\n", q.title, plots[0])
		}
	}
	plots, err := writeHistPlot(dir, finals, variants)
	if err != nil {
		return err
	}
	if len(plots) > 0 {
		rep.Plots = append(rep.Plots, plots...)
		fmt.Fprintf(md, "\n![weight distributions](%s)\n", plots[0])
	}
	return nil
}

// dynamicsClaims tests Fig. 3's claim (mixing lowers gradient variance)
// and §7.2's (sign-concordant feedback aligns with W better than FA).
func dynamicsClaims(rows []DynamicsRow) []Claim {
	last := map[string]DynamicsRow{}
	for _, r := range rows {
		if cur, ok := last[r.Variant]; !ok || r.Epoch > cur.Epoch {
			last[r.Variant] = r
		}
	}
	var claims []Claim
	if m, ok := last["mixed"]; ok {
		var higher, lower []string
		for _, r := range []string{"fa", "dfa", "usf", "brsf", "frsf"} {
			s, ok := last[r]
			if !ok || math.IsNaN(s.RelVar) {
				continue
			}
			item := fmt.Sprintf("%s %.3g", r, s.RelVar)
			if m.RelVar < s.RelVar {
				higher = append(higher, item)
			} else {
				lower = append(lower, item)
			}
		}
		if len(higher)+len(lower) > 0 {
			ev := fmt.Sprintf("relative gradient variance after epoch %d: mixed %.3g", m.Epoch, m.RelVar)
			if len(higher) > 0 {
				ev += "; higher for " + strings.Join(higher, ", ")
			}
			if len(lower) > 0 {
				ev += "; not higher for " + strings.Join(lower, ", ")
			}
			claims = append(claims, Claim{Claim: "Mixing rules lowers the gradient variance (Fig. 3)", Held: len(lower) == 0, Evidence: ev})
		}
	}
	if fa, ok := last["fa"]; ok && !math.IsNaN(fa.AngleBW) {
		var ev []string
		held := true
		for _, r := range []string{"usf", "brsf", "frsf"} {
			if s, ok := last[r]; ok && !math.IsNaN(s.AngleBW) {
				ev = append(ev, fmt.Sprintf("%s %.1f°", r, s.AngleBW))
				held = held && s.AngleBW < fa.AngleBW
			}
		}
		if len(ev) > 0 {
			claims = append(claims, Claim{Claim: "Sign-concordant feedback stays closer to W than FA's random B (§7.2)", Held: held,
				Evidence: fmt.Sprintf("∠(B,W) after epoch %d: fa %.1f° vs %s", fa.Epoch, fa.AngleBW, strings.Join(ev, ", "))})
		}
	}
	return claims
}

// writeEpochPlot draws a quantity against the epoch, one line per variant.
func writeEpochPlot(dir, name, title, ylabel string, rows []DynamicsRow, variants []string, f func(DynamicsRow) float64, logY bool) ([]string, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = ylabel
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	drawn := 0
	for i, v := range variants {
		var xys plotter.XYs
		for _, r := range rows {
			if y := f(r); r.Variant == v && !math.IsNaN(y) && (!logY || y > 0) {
				xys = append(xys, plotter.XY{X: float64(r.Epoch), Y: y})
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", name, err)
		}
		line.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		line.Width = vg.Points(1.5)
		if v == "mixed" {
			line.Width = vg.Points(3)
		}
		p.Add(line, pts)
		p.Legend.Add(v, line, pts)
		drawn++
	}
	if drawn == 0 {
		return nil, nil
	}
	p.Legend.Top = true
	return savePlot(p, dir, name)
}

// writeHistPlot draws each variant's weight distribution after training:
// the largest layer that every variant has, as a density over [−1, 1]·max.
func writeHistPlot(dir string, finals map[string][]search.LayerDynamics, variants []string) ([]string, error) {
	if len(finals) == 0 {
		return nil, nil
	}
	// The layer: in every variant, most weights.
	count := map[string]int{}
	size := map[string]int{}
	for _, ls := range finals {
		for _, l := range ls {
			count[l.Name]++
			n := 0
			for _, h := range l.Hist {
				n += h
			}
			size[l.Name] = max(size[l.Name], n)
		}
	}
	layer := ""
	for name, c := range count {
		if c == len(finals) && (layer == "" || size[name] > size[layer] || (size[name] == size[layer] && name < layer)) {
			layer = name
		}
	}
	if layer == "" {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "Weights of " + layer + " after training (Fig. 4–6)"
	p.X.Label.Text = "w / max|w|"
	p.Y.Label.Text = "fraction of weights"
	p.Add(plotter.NewGrid())
	for i, v := range variants {
		for _, l := range finals[v] {
			if l.Name != layer || len(l.Hist) == 0 {
				continue
			}
			total := 0
			for _, h := range l.Hist {
				total += h
			}
			xys := make(plotter.XYs, len(l.Hist))
			for b, h := range l.Hist {
				xys[b] = plotter.XY{X: -1 + (float64(b)+0.5)*2/float64(len(l.Hist)), Y: float64(h) / float64(max(total, 1))}
			}
			line, err := plotter.NewLine(xys)
			if err != nil {
				return nil, err
			}
			line.Color = plotutil.Color(i)
			line.Width = vg.Points(1.5)
			p.Add(line)
			p.Legend.Add(fmt.Sprintf("%s (kurtosis %.2f)", v, l.Kurtosis), line)
		}
	}
	p.Legend.Top = true
	return savePlot(p, dir, "dynamics-weights")
}
