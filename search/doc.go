// Package search is architecture search over (operation, learning rule)
// pairs: every edge of a DARTS cell mixes a set of pairs such as
// "sep_conv_3x3:fa" or "skip_connect:brsf", and the search learns which pair
// each edge keeps.
//
// The parts, one per file:
//
//   - space.go: search spaces as data (Op, Pair, Space; the bio, bp, hlpc and
//     lrnas spaces, or any K ops × R rules).
//   - ops.go: one pair as an nn layer (DARTS primitives whose convolutions
//     carry the rule; Hebbian and predictive-coding convolutions).
//   - mixedop.go: the mixed operation of one edge, Σ_k softmax(α)_k·pair_k(x),
//     with shared parameter-free pairs, PC-DARTS partial channels and
//     per-edge recomputation (gradient checkpointing) to bound memory.
//   - supernet.go: the DARTS search network (cells, α and β, stem, head).
//   - genotype.go: genotypes, their derivation from α, JSON and DARTS text.
//   - network.go: the discrete network built from a genotype, with per-layer
//     rule overrides, auxiliary head and drop path.
//   - run.go: the one entry point of every search (Method, Plan, Run), used
//     by the command line and the lab alike.
//   - configs.go: the blocks every run configuration embeds (SGDSettings,
//     RunControl) and the one reading of a zero setting (orDefault).
//   - darts.go: DARTS, second-order DARTS and PC-DARTS (DARTSConfig).
//   - egnas.go: EG-NAS, its CMA-ES explorations and compound fitness.
//   - random.go: random search over sampled genotypes.
//   - trainer.go: a supernet with its optimizers and the elementary steps
//     (weight step, first- and second-order architecture steps, on the host
//     or a device).
//   - loop.go: the epoch loop DARTS and EG-NAS share (loaders, step events,
//     evaluation, checkpoints, the move to and from a device).
//   - result.go: what a search returns (Result, EpochStats).
//   - train.go: the retraining of a discrete network (TrainConfig, Train).
//   - events.go: the events runs emit, and α snapshots.
//   - checkpoint.go, checkpoint_verify.go: checkpoints with exact resume,
//     verified as a whole before anything is loaded.
//   - model_check.go: a saved model's sidecar checked before it is built.
//   - presets.go: named settings (quick, paper).
//   - seeds.go: every random stream derived from the run's seed.
//
// Shapes are NCHW float32 tensors of package nn; a nil *nn.Graph means
// inference. Randomness comes only from the seeds in the configs: the same
// seed builds the same supernet or network.
//
// Skip connections and rules: on stride-1 edges skip_connect is the
// identity for every rule — the pairs skip_connect:fa, skip_connect:usf, …
// compute one shared identity and differ only as alphas (and as the label
// kept in the genotype). On stride-2 edges skip_connect is a
// FactorizedReduce whose two 1×1 convolutions do carry the rule. User
// interfaces should say so in their legend.
package search
