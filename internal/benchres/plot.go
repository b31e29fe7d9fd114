package benchres

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TimelineSteps are the stacked segments of an end-to-end recovery, in order: vcr-recover's
// per-step items (vcr.recover.step[SERVICE,STEP]) between the detection before it and the
// client's last stretch after it.
var TimelineSteps = []string{"lock", "fence", "container", "probe", "dns"}

// Timeline splits one e2e round into its stacked segments (seconds): detection (destroy
// to vcr-recover's start: the trap, Zabbix or trapd, the command's start), recover's steps,
// then the client (DNS switched to first page from the container). Recover's start is
// placed by the switch the client saw minus recover's steps up to the switch, since
// recover's values reach Zabbix with a clock in whole seconds only.
func Timeline(e E2ERound) []float64 {
	sum := 0.0
	for _, s := range TimelineSteps {
		sum += e.StepsSeconds[s]
	}
	out := []float64{max(0, e.DNSSeconds-sum)}
	for _, s := range TimelineSteps {
		out = append(out, e.StepsSeconds[s])
	}
	return append(out, max(0, e.Seconds-e.DNSSeconds))
}

// Plot is one gnuplot script and the data files it reads, written into a folder.
type Plot struct {
	PNG    string
	Script string
	Data   map[string]string // file name -> content
}

// Write writes the script (NAME.gp) and data files into dir.
func (p Plot) Write(dir string) (script string, err error) {
	for name, text := range p.Data {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	script = filepath.Join(dir, strings.TrimSuffix(p.PNG, ".png")+".gp")
	return script, os.WriteFile(script, []byte(p.Script), 0o644)
}

const plotHead = "set terminal pngcairo size 960,420 font ',10'\nset output '%s'\nset key outside right top\nset grid y\n"

// Plots returns the plots that r has data for: the e2e recovery timelines as stacked
// bars, and client-side availability during a failover (e2e) and a migration.
func Plots(r *Results) []Plot {
	var out []Plot
	if len(r.E2E) > 0 {
		var dat strings.Builder
		dat.WriteString("# round detection " + strings.Join(TimelineSteps, " ") + " client\n")
		n := map[string]int{}
		for _, e := range r.E2E {
			n[e.Path]++
			fmt.Fprintf(&dat, "%s-%d", e.Path, n[e.Path])
			for _, v := range Timeline(e) {
				fmt.Fprintf(&dat, " %.4f", v)
			}
			dat.WriteString("\n")
		}
		titles := append(append([]string{"detection (trap; Zabbix trigger + action, or trapd's script.execute)"}, prefixed("recover: ", TimelineSteps)...),
			"client: name switched -> page from the container")
		var s strings.Builder
		// Taller than the others: the key below holds a line per segment.
		s.WriteString(strings.Replace(fmt.Sprintf(plotHead, "e2e-timeline.png"), "960,420", "960,600", 1))
		s.WriteString("set title 'virsh destroy -> client served by the standby container (lab)'\n")
		s.WriteString("set key below\nset style data histogram\nset style histogram rowstacked\nset style fill solid border -1\nset boxwidth 0.6\n")
		s.WriteString("set ylabel 'seconds from virsh destroy'\nset yrange [0:*]\n")
		for i, t := range titles {
			sep := ", \\\n  "
			if i == 0 {
				s.WriteString("plot 'e2e-timeline.dat' using 2:xtic(1) title " + quote(t))
				continue
			}
			fmt.Fprintf(&s, "%s'' using %d title %s", sep, i+2, quote(t))
		}
		s.WriteString("\n")
		out = append(out, Plot{PNG: "e2e-timeline.png", Script: s.String(), Data: map[string]string{"e2e-timeline.dat": dat.String()}})

		var ss []pollSeries
		seen := map[string]bool{}
		for _, e := range r.E2E {
			if !seen[e.Path] { // the first round of each path
				seen[e.Path] = true
				ss = append(ss, pollSeries{"failover, " + e.Path + " path", e.Polls})
			}
		}
		out = append(out, availability("availability-failover.png", "client every 10 ms during a failover (virsh destroy at 0)", "seconds from virsh destroy", ss))
	}
	if len(r.Migrate) > 0 {
		var ss []pollSeries
		size := r.Migrate[0].SizeMB
		for _, m := range r.Migrate {
			if m.SizeMB == size {
				ss = append(ss, pollSeries{fmt.Sprintf("%s (%d MB)", m.Method, m.SizeMB), m.Polls})
			}
		}
		out = append(out, availability("availability-migration.png", "client every 10 ms during a move standby -> big (start at 0)", "seconds from the start of the move", ss))
	}
	return out
}

type pollSeries struct {
	title string
	polls []Poll
}

// availability plots each series as a step line, 1 served / 0 not, one band per series.
func availability(png, title, xlabel string, ss []pollSeries) Plot {
	data := map[string]string{}
	var s strings.Builder
	fmt.Fprintf(&s, plotHead, png)
	fmt.Fprintf(&s, "set title %s\nset xlabel %s\nset ylabel 'served (1) / not (0), one band per run'\n", quote(title), quote(xlabel))
	// The bands are named on the y axis; a key would repeat them.
	fmt.Fprintf(&s, "unset key\nset yrange [-0.3:%.1f]\nset ytics ()\n", float64(len(ss))*1.5)
	var plots []string
	for i, se := range ss {
		name := fmt.Sprintf("%s-%d.dat", strings.TrimSuffix(png, ".png"), i)
		var d strings.Builder
		for _, p := range se.polls {
			ok := 0
			if p.OK {
				ok = 1
			}
			fmt.Fprintf(&d, "%.4f %d\n", p.T, ok)
		}
		data[name] = d.String()
		fmt.Fprintf(&s, "set ytics add (%s %.1f)\n", quote(se.title), float64(i)*1.5+0.5)
		plots = append(plots, fmt.Sprintf("'%s' using 1:($2+%.1f) with steps lw 2 title %s", name, float64(i)*1.5, quote(se.title)))
	}
	s.WriteString("plot " + strings.Join(plots, ", \\\n  ") + "\n")
	return Plot{PNG: png, Script: s.String(), Data: data}
}

func prefixed(p string, v []string) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = p + s
	}
	return out
}

// quote makes a gnuplot string: titles hold apostrophes ("trapd's"); double quotes
// and backslashes, which gnuplot would interpret, are dropped.
func quote(s string) string {
	return `"` + strings.NewReplacer(`"`, "", `\`, "").Replace(s) + `"`
}
