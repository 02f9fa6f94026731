package search

import "math/rand/v2"

// Every random stream of a run is derived from the run's one seed and the
// position it serves (a stream tag, the epoch, the step): the same seed
// gives the same run, and a resumed run draws what the uninterrupted one
// would have drawn.

// deriveSeed mixes a run seed with position numbers (epoch, step, a stream
// tag) into an independent seed, with SplitMix64's finaliser. The same
// inputs always give the same seed, which is what makes resuming exact.
func deriveSeed(seed uint64, parts ...uint64) uint64 {
	h := seed ^ 0x6a09e667f3bcc909
	for _, p := range parts {
		h ^= p + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
		h = splitmix(h)
	}
	return splitmix(h)
}

func splitmix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Stream tags for deriveSeed.
const (
	streamTrainLoader uint64 = iota + 1
	streamValLoader
	streamGraph
	streamArchGraph
	streamExplore
	streamCMA
	streamSample
	streamNetwork
	streamDynamics // the dynamics probe set (ProbeDynamics)
)

// graphRand is the random source of a step's graph (drop path, dropout).
func graphRand(seed uint64, stream uint64, epoch, step int, extra ...uint64) *rand.Rand {
	return rand.New(rand.NewPCG(deriveSeed(seed, append([]uint64{stream, uint64(epoch), uint64(step)}, extra...)...), 0))
}
