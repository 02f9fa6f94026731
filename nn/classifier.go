package nn

// TrainBatch runs one training step of a classifier on a batch: forward on
// a training graph (the logits are marked as the output, so dfa layers get
// their error), cross-entropy with label smoothing, backward. The caller
// zeroes gradients and steps its optimizer: TrainBatch marks g as a weight
// step's graph (Graph.WeightStep), so Hebbian layers learn in it. It returns the mean loss and the
// number of correct predictions.
func TrainBatch(model Layer, x *Tensor, labels []int, smoothing float32, g *Graph) (loss float32, correct int) {
	if g != nil {
		g.WeightStep = true // the caller's optimizer step follows: local rules learn
	}
	logits := model.Forward(g, x)
	g.SetOutput(logits)
	l := g.CrossEntropy(logits, labels, smoothing)
	g.Backward(l)
	return l.Values()[0], Accuracy(logits, labels)
}

// Evaluate runs model in inference mode over batches produced by next (which
// returns false when done) and returns the accuracy in [0, 1].
func Evaluate(model Layer, next func() (*Tensor, []int, bool)) float64 {
	correct, total := 0, 0
	for {
		x, y, ok := next()
		if !ok {
			break
		}
		correct += Accuracy(model.Forward(nil, x), y)
		total += len(y)
	}
	if total == 0 {
		return 0
	}
	return float64(correct) / float64(total)
}
