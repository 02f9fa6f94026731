package tui

import (
	"fmt"

	"github.com/bionaslab/bionas/lab"
)

// jobParts say where an executor's run runs: "slurm job 12", its state
// (and why it waits), its node.
func jobParts(j lab.ExecJob) []string {
	parts := []string{j.Executor + " job " + j.ID}
	if j.ID == "" {
		parts[0] = "submitting to " + j.Executor
	}
	if j.State != "" {
		s := j.State
		if j.Reason != "" {
			s += " (" + j.Reason + ")"
		}
		parts = append(parts, s)
	}
	if j.Node != "" {
		parts = append(parts, "on "+j.Node)
	}
	if j.Partition != "" {
		parts = append(parts, "partition "+j.Partition)
	}
	return parts
}

// sweepLine is a sweep's progress over the lab's runs: "sweep s0005: 3/4
// done, 1 running".
func sweepLine(id string, runs []lab.RunInfo) string {
	for _, p := range lab.Sweeps(runs) {
		if p.ID == id {
			return fmt.Sprintf("sweep %s: %s", id, p)
		}
	}
	return "sweep " + id
}
