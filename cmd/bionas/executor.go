package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/bionaslab/bionas/lab"
)

// execFlags are the flags that choose where a lab's runs execute: the
// lab's own goroutines (local) or a Slurm cluster, and the sbatch options
// of its jobs.
type execFlags struct {
	name      string
	binary    string
	partition string
	time      string
	gpus      int
	cpus      int
	mem       string
	device    string
	sbatch    stringList
	poll      time.Duration
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func (f *execFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "executor", lab.ExecutorLocal, "where runs execute: local (this process) or slurm (one sbatch job per run; the lab folder must be on a file system the compute nodes share)")
	fs.StringVar(&f.binary, "slurm-binary", "", "the bionas binary the Slurm jobs run, by a path every node sees (default: this binary)")
	fs.StringVar(&f.partition, "slurm-partition", "", "Slurm partition (sbatch --partition; default: the cluster's)")
	fs.StringVar(&f.time, "slurm-time", "", "time limit of each job (sbatch --time: minutes, HH:MM:SS, D-HH:MM; a job past it shows as interrupted and resumes from its checkpoint)")
	fs.IntVar(&f.gpus, "slurm-gpus", 0, "GPUs per job (sbatch --gres=gpu:N); with N > 0 the jobs compute on cuda:0")
	fs.IntVar(&f.cpus, "slurm-cpus", 0, "CPUs per job (sbatch --cpus-per-task)")
	fs.StringVar(&f.mem, "slurm-mem", "", "memory per job (sbatch --mem: 4000, 8G)")
	fs.StringVar(&f.device, "slurm-device", "", "where the jobs compute: cpu or cuda[:N] (default: cuda:0 with --slurm-gpus, else cpu)")
	fs.Var(&f.sbatch, "slurm-sbatch-arg", "a further sbatch option for every job, such as --qos=short (repeatable)")
	fs.DurationVar(&f.poll, "slurm-poll", time.Second, "how often the lab asks Slurm about its jobs and reads their run folders")
}

// executor returns the lab's executor (nil: local). dataDir, if set, is
// passed on to the jobs.
func (f *execFlags) executor(dataDir string) (lab.Executor, error) {
	switch f.name {
	case "", lab.ExecutorLocal:
		return nil, nil
	case lab.ExecutorSlurm:
	default:
		return nil, fmt.Errorf("--executor %q: want local or slurm", f.name)
	}
	if f.poll <= 0 {
		return nil, fmt.Errorf("--slurm-poll %v: want a positive duration such as 1s", f.poll)
	}
	if f.device != "" {
		if _, err := parseDevice(f.device); err != nil {
			return nil, fmt.Errorf("--slurm-device: %w", err)
		}
	}
	var jobArgs []string
	if dataDir != "" {
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return nil, fmt.Errorf("--data-dir %s: %w", dataDir, err)
		}
		jobArgs = append(jobArgs, "--data-dir", abs)
	}
	s, err := lab.NewSlurm(lab.SlurmOptions{Binary: f.binary, JobArgs: jobArgs, Partition: f.partition, Time: f.time,
		CPUs: f.cpus, Mem: f.mem, GPUs: f.gpus, Extra: f.sbatch, Device: f.device})
	if err != nil {
		return nil, fmt.Errorf("--executor slurm: %w", err)
	}
	return s, nil
}
