package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
)

// searchLoop is the epoch loop shared by DARTS and EG-NAS: per epoch a
// fresh loader over the training half (seeded by the epoch), a step per
// batch, an evaluation on the validation half, a checkpoint.
type searchLoop struct {
	kind, method string
	t            *supernetTrainer
	train, val   data.Dataset
	emit         emitter
	epochs       int
	batch        int
	seed         uint64
	sched        nn.Schedule
	augment      data.Augment
	norm         *data.Norm
	workers      int
	emitEvery    int
	// alphasEvery > 0 emits an "alphas" event every that many steps
	// within an epoch in which alphasMove says α moves with the steps
	// (nil: every epoch); 0 emits them only at epoch starts and the end.
	alphasEvery int
	alphasMove  func(epoch int) bool
	ckptDir     string
	resume      bool
	config      json.RawMessage
	extraTen    []nn.Named

	// beginEpoch runs before an epoch's steps; step is the number of
	// steps done before it.
	beginEpoch func(ctx context.Context, epoch, step int) error
	step       func(ctx context.Context, epoch, step int, x *nn.Tensor, y []int) (loss float64, correct int, err error)
	endEpoch   func()
}

// loader returns the loader of one epoch over ds.
func (l *searchLoop) loader(ds data.Dataset, stream uint64, epoch int) *data.Loader {
	return newEpochLoader(ds, l.batch, deriveSeed(l.seed, stream, uint64(epoch)), l.augment, l.norm, l.workers, true)
}

// newEpochLoader makes a shuffled loader whose first epoch is the one
// wanted; cutout fills with the normalisation mean (so the normalised image
// holds zeros there, as in DARTS).
func newEpochLoader(ds data.Dataset, batch int, seed uint64, aug data.Augment, norm *data.Norm, workers int, dropLast bool) *data.Loader {
	if aug.Cutout > 0 && aug.Normalize == nil && aug.CutoutFill == nil && norm != nil {
		aug.CutoutFill = norm.Mean
	}
	return data.NewLoader(ds, data.LoaderConfig{
		BatchSize: batch, Shuffle: true, Seed: seed, DropLast: dropLast, Augment: aug, Workers: workers,
	})
}

func (l *searchLoop) parts() checkpointParts {
	return checkpointParts{model: l.t.net, alphas: l.t.alphas, wOpt: l.t.wOpt, aOpt: l.t.aOpt, extraTen: l.extraTen}
}

func (l *searchLoop) run(ctx context.Context) (*Result, error) {
	start := time.Now()
	steps := l.train.Len() / l.batch
	if steps == 0 {
		return nil, fmt.Errorf("%s: the training half has %d images, fewer than one batch of %d", l.method, l.train.Len(), l.batch)
	}
	if l.val.Len() == 0 {
		return nil, fmt.Errorf("%s: the validation half is empty", l.method)
	}
	res := &Result{Method: l.method}
	epoch0, step := 0, 0
	if l.resume && l.ckptDir != "" {
		st, err := loadCheckpoint(l.ckptDir, l.kind, l.config, l.parts())
		switch {
		case err == nil:
			epoch0, step, res.History, res.ResumedAt = st.Epoch, st.Step, st.History, st.Epoch
		case isNoCheckpoint(err):
		default:
			return nil, fmt.Errorf("%s: %w", l.method, err)
		}
	}
	forward := func(x *nn.Tensor) *nn.Tensor { return l.t.net.Forward(nil, normalizeInput(nil, x, l.norm)) }
	if d := l.t.dev; d != nil {
		if err := supernetOnDevice(d, l.t.space); err != nil {
			return nil, fmt.Errorf("%s: %w", l.method, err)
		}
		// After the resume: the checkpoint was read into host tensors, and
		// the optimizers' loaded state goes up on first use.
		if err := l.t.net.MoveTo(d); err != nil {
			return nil, fmt.Errorf("%s: move the supernet to %s: %w", l.method, d.Name(), err)
		}
		defer func() { _ = l.t.net.MoveTo(nil) }()
		forward = forwardOn(l.t.net, d, l.norm)
	}
	total := steps * l.epochs
	for epoch := epoch0; epoch < l.epochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lr := l.sched.LR(epoch)
		l.t.wOpt.SetLR(lr)
		geno := l.t.net.Genotype()
		l.emit(Event{Kind: EventGenotype, Epoch: epoch, Epochs: l.epochs, Step: step, TotalSteps: total, Genotype: &geno})
		l.emit(Event{Kind: EventAlphas, Epoch: epoch, Epochs: l.epochs, Step: step, TotalSteps: total, Alphas: snapshotAlphas(l.t.net, l.t.space)})
		es, err := l.runEpoch(ctx, epoch, &step, total, start)
		if err != nil {
			return nil, err
		}
		es.Genotype = &geno
		es.LR = float64(lr)
		vloss, vacc, err := evalModel(ctx, forward, l.val, 2*l.batch, l.workers)
		if err != nil {
			return nil, err
		}
		es.ValLoss, es.ValAcc = vloss, vacc
		es.Seconds = time.Since(start).Seconds()
		res.History = append(res.History, es)
		// The epoch event goes out before the checkpoint: a process killed
		// between the two resumes from the previous checkpoint, whose reader
		// drops this event and redoes the epoch. The other order would lose
		// the record of an epoch the checkpoint holds.
		l.emit(Event{Kind: EventEpoch, Epoch: epoch, Epochs: l.epochs, Step: step, TotalSteps: total,
			Loss: es.Loss, Acc: es.Acc, ValLoss: vloss, ValAcc: vacc, LR: float64(lr), Seconds: es.Seconds})
		if l.ckptDir != "" {
			st := ckptState{Kind: l.kind, Config: l.config, Epoch: epoch + 1, Step: step, History: res.History}
			if err := saveCheckpoint(l.ckptDir, l.parts(), st); err != nil {
				return nil, fmt.Errorf("%s: %w", l.method, err)
			}
		}
	}
	geno := l.t.net.Genotype()
	res.Genotype = geno
	res.Alphas = snapshotAlphas(l.t.net, l.t.space)
	res.Epochs, res.Steps = l.epochs, step
	if n := len(res.History); n > 0 {
		res.ValLoss, res.ValAcc = res.History[n-1].ValLoss, res.History[n-1].ValAcc
	}
	res.Seconds = time.Since(start).Seconds()
	l.emit(Event{Kind: EventGenotype, Epoch: l.epochs, Epochs: l.epochs, Step: step, TotalSteps: total, Genotype: &geno})
	l.emit(Event{Kind: EventAlphas, Epoch: l.epochs, Epochs: l.epochs, Step: step, TotalSteps: total, Alphas: res.Alphas})
	l.emit(Event{Kind: EventDone, Epoch: l.epochs, Epochs: l.epochs, Step: step, TotalSteps: total,
		ValLoss: res.ValLoss, ValAcc: res.ValAcc, Genotype: &geno, Seconds: res.Seconds})
	return res, nil
}

// runEpoch runs the steps of one epoch.
func (l *searchLoop) runEpoch(ctx context.Context, epoch int, step *int, total int, start time.Time) (EpochStats, error) {
	if l.endEpoch != nil {
		defer l.endEpoch()
	}
	if l.beginEpoch != nil {
		if err := l.beginEpoch(ctx, epoch, *step); err != nil {
			return EpochStats{}, err
		}
	}
	tl := l.loader(l.train, streamTrainLoader, epoch)
	defer tl.Close()
	var sumLoss float64
	var correct, seen int
	win := newStepWindow(time.Now())
	for {
		if err := ctx.Err(); err != nil {
			return EpochStats{}, err
		}
		b, ok := tl.Next(ctx)
		if !ok {
			if err := ctx.Err(); err != nil {
				return EpochStats{}, err
			}
			break
		}
		x := nn.FromSlice(b.X, b.N, b.C, b.H, b.W)
		loss, c, err := l.step(ctx, epoch, *step, x, b.Y)
		tl.Release(b)
		if err != nil {
			return EpochStats{}, err
		}
		*step++
		sumLoss += loss * float64(b.N)
		correct += c
		seen += b.N
		win.add(loss, c, b.N)
		if *step%l.emitEvery == 0 {
			l.emit(win.event(epoch, l.epochs, *step, total, float64(l.t.wOpt.LR()), start))
		}
		if l.alphasEvery > 0 && *step%l.alphasEvery == 0 && (l.alphasMove == nil || l.alphasMove(epoch)) {
			// A copy of α as they are after this step: reading them
			// changes nothing the search computes.
			l.emit(Event{Kind: EventAlphas, Epoch: epoch, Epochs: l.epochs, Step: *step, TotalSteps: total,
				Alphas: snapshotAlphas(l.t.net, l.t.space)})
		}
	}
	if seen == 0 {
		return EpochStats{}, fmt.Errorf("%s: epoch %d had no batch", l.method, epoch)
	}
	return EpochStats{Epoch: epoch, Steps: *step, Loss: sumLoss / float64(seen), Acc: float64(correct) / float64(seen)}, nil
}

// stepWindow accumulates the steps between two "step" events.
type stepWindow struct {
	t0      time.Time
	loss    float64
	correct int
	n       int
}

func newStepWindow(t time.Time) *stepWindow { return &stepWindow{t0: t} }

func (w *stepWindow) add(loss float64, correct, n int) {
	w.loss += loss * float64(n)
	w.correct += correct
	w.n += n
}

// event returns the window's "step" event and starts a new window.
func (w *stepWindow) event(epoch, epochs, step, total int, lr float64, start time.Time) Event {
	now := time.Now()
	e := Event{Kind: EventStep, Epoch: epoch, Epochs: epochs, Step: step, TotalSteps: total, LR: lr,
		Seconds: now.Sub(start).Seconds()}
	if w.n > 0 {
		e.Loss = w.loss / float64(w.n)
		e.Acc = float64(w.correct) / float64(w.n)
		if dt := now.Sub(w.t0).Seconds(); dt > 0 {
			e.ImagesPerSec = float64(w.n) / dt
		}
	}
	*w = stepWindow{t0: now}
	return e
}

// evaluate returns the mean loss and the accuracy of forward (an inference
// forward of a model) over ds, in batches, in index order.
func evalModel(ctx context.Context, forward func(x *nn.Tensor) *nn.Tensor, ds data.Dataset, batch, workers int) (loss, acc float64, err error) {
	if ds.Len() == 0 {
		return 0, 0, nil
	}
	l := data.NewLoader(ds, data.LoaderConfig{BatchSize: batch, Workers: workers})
	defer l.Close()
	var sum float64
	var correct, n int
	for {
		b, ok := l.Next(ctx)
		if !ok {
			if err := ctx.Err(); err != nil {
				return 0, 0, err
			}
			break
		}
		logits := forward(nn.FromSlice(b.X, b.N, b.C, b.H, b.W))
		for _, v := range nn.CrossEntropyPerSample(logits, b.Y) {
			sum += float64(v)
		}
		correct += nn.Accuracy(logits, b.Y)
		n += b.N
		l.Release(b)
	}
	return sum / float64(n), float64(correct) / float64(n), nil
}

func isNoCheckpoint(err error) bool {
	return err != nil && errors.Is(err, errNoCheckpoint)
}
