package attacks

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bionaslab/bionas/nn"
)

// Network is a model that can be saved and loaded with nn.SaveModel and
// nn.LoadModel and attacked: a layer with parameters and rule layers.
type Network interface {
	nn.Layer
	nn.Model
}

// ModelSpec is what a checkpoint must say about itself for `bionas attack`
// to rebuild and name it. It is stored as the "extra" metadata of
// nn.SaveModel's sidecar (see SaveNetwork).
type ModelSpec struct {
	// Kind selects the builder in a Registry: "smallcnn" here; the search
	// package registers its networks built from genotypes under its own
	// kind.
	Kind string `json:"kind"`
	// Name is the row label in reports (default: the rule, else the file
	// name).
	Name string `json:"name,omitempty"`
	// Rule is the learning rule of a single-rule model ("bp", "fa", …) or
	// "mixed" for a searched network.
	Rule string `json:"rule,omitempty"`
	// Dataset is the data the model was trained on ("mnist").
	Dataset string `json:"dataset,omitempty"`
	// Mean and Std, if set, are the per-channel normalisation the network
	// applies first: the model takes [0,1] pixels, as attacks need.
	Mean []float32 `json:"mean,omitempty"`
	Std  []float32 `json:"std,omitempty"`
	// Config is the kind's own architecture description (for "smallcnn",
	// an nn.SmallCNNConfig).
	Config json.RawMessage `json:"config,omitempty"`
	// TestAccuracy is the clean accuracy measured after training, if known.
	TestAccuracy float64 `json:"test_accuracy,omitempty"`
	// Train describes the training run, free-form (epochs, seed, …).
	Train map[string]any `json:"train,omitempty"`
	// Raw is the whole metadata object as saved, for builders whose kind
	// keeps its architecture in fields of its own (the search package's
	// networks keep a search.ModelMeta there).
	Raw json.RawMessage `json:"-"`
}

// KindSmallCNN is the kind of nn.NewSmallCNN networks.
const KindSmallCNN = "smallcnn"

// Builder builds the untrained architecture a spec describes, normalisation
// included, ready for nn.LoadModel to fill in.
type Builder func(spec ModelSpec) (Network, error)

// Registry maps model kinds to builders. It is a plain value made by the
// caller (NewRegistry) so that other packages plug their networks in
// without global state:
//
//	reg := attacks.NewRegistry()
//	reg["network"] = search.BuildForAttack // the searched mixed network
type Registry map[string]Builder

// NewRegistry returns a registry that knows KindSmallCNN.
func NewRegistry() Registry {
	return Registry{KindSmallCNN: BuildSmallCNN}
}

// Kinds lists the registered kinds, sorted.
func (r Registry) Kinds() []string {
	ks := make([]string, 0, len(r))
	for k := range r {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// LoadedModel is a checkpoint rebuilt by a Registry.
type LoadedModel struct {
	Path  string
	Spec  ModelSpec
	Model Network
}

// Name is the label for reports: the spec's name, its rule, or the file
// name without extension.
func (m *LoadedModel) Name() string {
	switch {
	case m.Spec.Name != "":
		return m.Spec.Name
	case m.Spec.Rule != "":
		return m.Spec.Rule
	}
	return strings.TrimSuffix(filepath.Base(m.Path), filepath.Ext(m.Path))
}

// ReadSpec reads the ModelSpec from the sidecar of the checkpoint at path.
func ReadSpec(path string) (ModelSpec, error) {
	side := nn.CheckpointSidecarPath(path)
	raw, err := os.ReadFile(side)
	if err != nil {
		return ModelSpec{}, fmt.Errorf("read model spec of %s: %w", path, err)
	}
	var doc struct {
		Meta struct {
			Extra json.RawMessage `json:"extra"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return ModelSpec{}, fmt.Errorf("read model spec of %s: sidecar %s: %w", path, side, err)
	}
	var spec ModelSpec
	if len(doc.Meta.Extra) > 0 {
		if err := json.Unmarshal(doc.Meta.Extra, &spec); err != nil {
			return ModelSpec{}, fmt.Errorf("read model spec of %s: sidecar %s: %w", path, side, err)
		}
	}
	if spec.Kind == "" {
		return ModelSpec{}, fmt.Errorf("read model spec of %s: sidecar %s has no model spec (meta.extra.kind); save models with attacks.SaveNetwork", path, side)
	}
	spec.Raw = doc.Meta.Extra
	return spec, nil
}

// Load reads the spec of the checkpoint at path, builds its architecture
// with the registered builder and loads the weights and rules.
func (r Registry) Load(path string) (*LoadedModel, error) {
	spec, err := ReadSpec(path)
	if err != nil {
		return nil, err
	}
	build, ok := r[spec.Kind]
	if !ok {
		return nil, fmt.Errorf("load model %s: unknown kind %q (known: %s)", path, spec.Kind, strings.Join(r.Kinds(), ", "))
	}
	net, err := build(spec)
	if err != nil {
		return nil, fmt.Errorf("load model %s: build %s: %w", path, spec.Kind, err)
	}
	if err := nn.LoadModel(path, net, nil); err != nil {
		return nil, err
	}
	return &LoadedModel{Path: path, Spec: spec, Model: net}, nil
}

// SaveNetwork saves net with nn.SaveModel, its spec as the sidecar's extra
// metadata, so that Registry.Load can rebuild it.
func SaveNetwork(path string, net Network, spec ModelSpec) error {
	if spec.Kind == "" {
		return fmt.Errorf("save network %s: the spec has no kind", path)
	}
	return nn.SaveModel(path, net, spec)
}

// BuildSmallCNN builds the nn.SmallCNNConfig network stored in
// spec.Config, behind spec's normalisation. Its weights are placeholders
// (drawn from a fixed seed) until loaded.
func BuildSmallCNN(spec ModelSpec) (Network, error) {
	var cfg nn.SmallCNNConfig
	if len(spec.Config) == 0 {
		return nil, fmt.Errorf("smallcnn: the spec has no config")
	}
	if err := json.Unmarshal(spec.Config, &cfg); err != nil {
		return nil, fmt.Errorf("smallcnn: config: %w", err)
	}
	net, err := nn.NewSmallCNN(cfg, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		return nil, err
	}
	return Normalized(net, spec.Mean, spec.Std)
}

// Normalized puts a per-channel normalisation in front of net, so that the
// result takes [0,1] pixels. With no mean and std it returns net itself.
// Parameter and layer names are unchanged: the normalisation has none.
func Normalized(net Network, mean, std []float32) (Network, error) {
	if len(mean) == 0 && len(std) == 0 {
		return net, nil
	}
	if len(mean) != len(std) {
		return nil, fmt.Errorf("normalisation: %d means and %d stds", len(mean), len(std))
	}
	for i, s := range std {
		if !(s > 0) {
			return nil, fmt.Errorf("normalisation: std[%d] = %v", i, s)
		}
	}
	m, s := append([]float32(nil), mean...), append([]float32(nil), std...)
	norm := nn.LayerFunc(func(g *nn.Graph, x *nn.Tensor) *nn.Tensor { return g.Normalize(x, m, s) })
	return &nn.Sequential{Layers: []nn.Layer{norm, net}}, nil
}
