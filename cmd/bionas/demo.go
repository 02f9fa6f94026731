package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// demoResult is one line of `bionas demo --json`.
type demoResult struct {
	Rule     rule.Rule `json:"rule"`
	Steps    int       `json:"steps"`
	Loss     float32   `json:"final_loss"`
	TestAcc  float64   `json:"test_accuracy"`
	Seconds  float64   `json:"seconds"`
	MsPerStp float64   `json:"ms_per_step"`
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rules := fs.String("rules", "bp,fa,dfa,usf,brsf,frsf", "comma-separated learning rules to train with")
	steps := fs.Int("steps", 300, "training steps per rule")
	batch := fs.Int("batch", 64, "batch size")
	lr := fs.Float64("lr", 0, "SGD learning rate (momentum 0.9); 0 picks a rate per rule (0.05; fa 0.02, dfa 0.005)")
	seed := fs.Uint64("seed", 1, "random seed")
	asJSON := fs.Bool("json", false, "print one JSON object per rule on stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *steps <= 0 || *batch <= 0 || *lr < 0 {
		return fmt.Errorf("demo: --steps and --batch must be positive and --lr not negative (got %d, %d, %g)", *steps, *batch, *lr)
	}
	var rs []rule.Rule
	for _, s := range strings.Split(*rules, ",") {
		r, err := rule.Parse(s)
		if err != nil {
			return fmt.Errorf("demo: --rules: %w", err)
		}
		if !r.IsFeedback() {
			return fmt.Errorf("demo: --rules: %q is a layer kind, not a feedback rule for the demo CNN", r)
		}
		rs = append(rs, r)
	}
	train, err := data.MNIST(ctx, true)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	test, err := data.MNIST(ctx, false)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "Demo: a small CNN on real MNIST, %d steps of batch %d per learning rule.\n\n", *steps, *batch)
		fmt.Fprintf(stdout, "%-6s %10s %12s %10s\n", "rule", "test acc", "final loss", "ms/step")
	}
	for _, r := range rs {
		res, err := demoTrain(ctx, r, train, test, *steps, *batch, float32(*lr), *seed, stderr)
		if err != nil {
			return err
		}
		if *asJSON {
			b, _ := json.Marshal(res)
			fmt.Fprintln(stdout, string(b))
			continue
		}
		fmt.Fprintf(stdout, "%-6s %9.2f%% %12.4f %10.1f\n", r, 100*res.TestAcc, res.Loss, res.MsPerStp)
	}
	return nil
}

func demoTrain(ctx context.Context, r rule.Rule, train, test data.Dataset, steps, batch int, lr float32, seed uint64, stderr io.Writer) (demoResult, error) {
	rng := rand.New(rand.NewPCG(seed, 7))
	model, err := nn.NewSmallCNN(nn.SmallCNNConfig{C: 1, H: 28, W: 28, Classes: 10, Rule: r}, rng)
	if err != nil {
		return demoResult{}, err
	}
	if lr == 0 {
		lr = defaultDemoLR(r)
	}
	loss, elapsed, err := stepTraining{Steps: steps, Batch: batch, Seed: seed, Rng: rng, SGD: nn.SGDConfig{LR: lr, Momentum: 0.9},
		Clip: 5, Label: fmt.Sprintf("%-5s", r), Every: 1}.run(ctx, model, train, stderr)
	if err != nil {
		return demoResult{}, fmt.Errorf("demo: %s: %w", r, err)
	}
	eval := data.NewLoader(test, data.LoaderConfig{BatchSize: 500})
	defer eval.Close()
	acc := nn.Evaluate(model, func() (*nn.Tensor, []int, bool) {
		b, ok := eval.Next(ctx)
		if !ok {
			return nil, nil, false
		}
		return nn.FromSlice(b.X, b.N, b.C, b.H, b.W), b.Y, true
	})
	return demoResult{Rule: r, Steps: steps, Loss: loss, TestAcc: acc, Seconds: elapsed.Seconds(),
		MsPerStp: float64(elapsed.Milliseconds()) / float64(steps)}, nil
}

// defaultDemoLR is a learning rate that trains the demo CNN stably with r:
// random feedback (fa, and dfa's broadcast error) needs smaller steps, as
// biotorch's configurations also give them.
func defaultDemoLR(r rule.Rule) float32 {
	switch r {
	case rule.FA:
		return 0.02
	case rule.DFA:
		return 0.005
	}
	return 0.05
}
