package lab

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/bionaslab/bionas/nn"
)

// writer persists dirty runs every FlushInterval.
func (l *Lab) writer() {
	defer close(l.writerDone)
	t := time.NewTicker(l.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-l.writerStop:
			return
		case <-t.C:
			for _, r := range l.allRuns() {
				l.flush(r)
				r.mu.Lock()
				due := r.statusDue
				r.mu.Unlock()
				if due {
					l.publishStatus(r)
				}
			}
		}
	}
}

// flush writes a run's dirty files, each atomically.
func (l *Lab) flush(r *run) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	d := r.dirty
	// A run held by an executor's job is the job's to write; its dirty
	// bits wait until the lab settles the job's end (remote.go).
	if d == 0 || r.held {
		r.mu.Unlock()
		return nil
	}
	r.dirty = 0
	info := r.info.Clone()
	lines := r.lines // append-only or replaced: safe to read unlocked
	alphas, geno, gtext, layers, attack := r.alphas, r.genotype, r.genotypeText, r.layers, r.attack
	logText := strings.Join(r.log, "\n")
	r.mu.Unlock()

	var errs []error
	put := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if d&dirtyMetrics != 0 {
		var buf bytes.Buffer
		for _, b := range lines {
			buf.Write(b)
			buf.WriteByte('\n')
		}
		put(atomicWrite(filepath.Join(r.dir, FileMetrics), buf.Bytes()))
	}
	if d&dirtyAlphas != 0 && alphas != nil {
		put(writeJSON(filepath.Join(r.dir, FileAlphas), alphas))
	}
	if d&dirtyGenotype != 0 && geno != nil {
		put(writeJSON(filepath.Join(r.dir, FileGenotype), geno))
		if gtext != "" {
			put(atomicWrite(filepath.Join(r.dir, FileGenotypeText), []byte(gtext+"\n")))
		}
	}
	if d&dirtyLayers != 0 && layers != nil {
		put(writeJSON(filepath.Join(r.dir, FileLayers), layers))
	}
	if d&dirtyAttack != 0 && attack != nil {
		put(writeJSON(filepath.Join(r.dir, FileAttack), attack))
	}
	if d&dirtyLog != 0 {
		put(atomicWrite(filepath.Join(r.dir, FileLog), []byte(logText+"\n")))
	}
	// run.json last: once it says "done", everything else is on disk.
	if d&dirtyInfo != 0 {
		put(writeJSON(filepath.Join(r.dir, FileRun), info))
	}
	err := errors.Join(errs...)
	if err != nil {
		r.mu.Lock()
		r.dirty |= d // try again at the next flush
		if r.writeErr == nil || r.writeErr.Error() != err.Error() {
			r.log = append(r.log, "warning: "+err.Error()) // say it once
		}
		r.writeErr = err
		r.mu.Unlock()
	}
	return err
}

func atomicWrite(path string, b []byte) error { return nn.WriteFileAtomic(path, b) }
