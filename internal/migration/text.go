package migration

import (
	"fmt"
	"io"
)

// WriteText prints the report for a person: the plan of a dry run, else one line.
func (r *Report) WriteText(w io.Writer) {
	if r.DryRun {
		fmt.Fprintf(w, "vcr-migrate -dry-run: %s to %s would (%s):\n", r.Service, r.To, r.Message)
		for i, p := range r.Plan {
			fmt.Fprintf(w, "  %d. %s\n", i+1, p)
		}
		return
	}
	fmt.Fprintf(w, "migrate %s %s -> %s: %s (exit %d) in %.3f s, downtime %.3f s: %s; served from %s\n",
		r.Service, r.From, r.To, r.Result, r.ExitCode, r.Seconds, r.DowntimeSeconds, r.Message, r.ServedFrom)
}

// WriteText prints the loads read, the plan and each move's line.
func (r *AutoReport) WriteText(w io.Writer) {
	for _, l := range r.Loads {
		if l.Error != "" {
			fmt.Fprintf(w, "standby %s: unreadable: %s\n", l.Name, l.Error)
			continue
		}
		fmt.Fprintf(w, "standby %s: %d running, %.2f of %.0f CPUs, %d of %d MB\n", l.Name, l.Running, l.CPUCores, l.CPUs, l.MemoryUsed, l.MemoryMB)
	}
	for i, p := range r.Plan {
		fmt.Fprintf(w, "  %d. move %s %s -> %s: %s\n", i+1, p.Container, p.From, p.To, p.Reason)
	}
	for _, m := range r.Moves {
		m.WriteText(w)
	}
	fmt.Fprintf(w, "migrate -auto: %s (exit %d): %s\n", r.Result, r.ExitCode, r.Message)
}
