package poolplan

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Write prints the plan for people: the hosts, a table of services, then what each
// host's failure would do.
func Write(w io.Writer, p Plan) error {
	var b strings.Builder
	fmt.Fprintf(&b, "pool %s: live %s; down %s\n", p.Pool, list(p.Live), list(p.Down))
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tOWNER\tPLACED\tREPLICAS\tHOLDING\tSNAPSHOT\tAGE\tSTATE")
	for _, s := range p.Services {
		snap, age := "-", "-"
		if s.Snapshot != nil {
			snap, age = s.Snapshot.Name, s.Snapshot.Age.String()
		}
		state := "ok"
		switch {
		case s.Owner == "":
			state = "no owner"
		case s.UnderReplicated:
			state = fmt.Sprintf("under-replicated (%d of %d)", len(s.Holding), s.Wanted)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, dash(s.Owner), dash(s.Placed),
			list(s.Replicas), list(s.Holding), snap, age, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range p.Failures {
		fmt.Fprintf(&b, "if %s fails:", f.Host)
		if len(f.Moves) == 0 {
			b.WriteString(" nothing moves\n")
			continue
		}
		b.WriteString("\n")
		for _, m := range f.Moves {
			var what []string
			switch {
			case m.Takeover != "":
				what = append(what, "taken over by "+m.Takeover)
			case m.NoTakeover != "":
				what = append(what, "NO TAKEOVER: "+m.NoTakeover)
			}
			if m.NewReplica != "" {
				what = append(what, "new replica on "+m.NewReplica)
			} else {
				what = append(what, "no host left for a new replica")
			}
			fmt.Fprintf(&b, "  %s: %s\n", m.Service, strings.Join(what, ", "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
