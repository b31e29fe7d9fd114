// Package loadplan chooses which containers vcr-migrate -auto moves off overloaded
// standby servers and where to: pure, no I/O, so every decision is a table test.
//
// A standby is over when its running containers exceed its capacity, or the CPU or
// memory its containers use exceeds its max percentages. While one is over, the plan
// takes, from the most overloaded one, the cheapest container (in bytes to copy) whose
// move alone brings it under, or else the movable container with the best relief per
// byte to move (relief: how much of the excess it removes, each measure relative to its
// threshold), and sends it to the standby with the most headroom that stays under all
// its thresholds with it. A container is moved at most once per plan; containers in
// their cool-down are never moved.
package loadplan

import (
	"fmt"
	"math"
	"sort"
)

// Standby is one standby server's size and thresholds.
type Standby struct {
	Name        string
	CPUs        float64 // cores
	MemoryBytes uint64  // total memory
	// Capacity in running containers (0: no limit); MaxCPUPercent and MaxMemoryPercent
	// of CPUs and MemoryBytes (0: not checked).
	Capacity         int
	MaxCPUPercent    float64
	MaxMemoryPercent float64
}

// Container is one running container and what it uses.
type Container struct {
	Name        string // the service (= container) name
	Standby     string
	CPUCores    float64 // CPU used, in cores (1.5 = one and a half cores busy)
	MemoryBytes uint64
	DiskBytes   uint64 // what a move copies
	// Movable: an inventory service outside its cool-down. Others count as load only.
	Movable bool
}

// Move is one planned move.
type Move struct {
	Container string `json:"service"`
	From      string `json:"from"`
	To        string `json:"to"`
	Reason    string `json:"reason"`
}

// Load is a standby's use relative to its thresholds: 1 is at the threshold.
type Load struct {
	Count, CPU, Memory float64
}

// Max is the highest of the three.
func (l Load) Max() float64 { return math.Max(l.Count, math.Max(l.CPU, l.Memory)) }

type usage struct {
	count int
	cpu   float64
	mem   uint64
}

func (s Standby) load(u usage) Load {
	var l Load
	if s.Capacity > 0 {
		l.Count = float64(u.count) / float64(s.Capacity)
	}
	if s.MaxCPUPercent > 0 && s.CPUs > 0 {
		l.CPU = u.cpu / s.CPUs * 100 / s.MaxCPUPercent
	}
	if s.MaxMemoryPercent > 0 && s.MemoryBytes > 0 {
		l.Memory = float64(u.mem) / float64(s.MemoryBytes) * 100 / s.MaxMemoryPercent
	}
	return l
}

func (l Load) over() bool { return l.Count > 1 || l.CPU > 1 || l.Memory > 1 }

// relief is how much of s's excess over its thresholds removing c takes away.
func (s Standby) relief(u usage, c Container) float64 {
	before := s.load(u)
	after := s.load(usage{u.count - 1, u.cpu - c.CPUCores, u.mem - c.MemoryBytes})
	r := 0.0
	for _, p := range [][2]float64{{before.Count, after.Count}, {before.CPU, after.CPU}, {before.Memory, after.Memory}} {
		if p[0] > 1 {
			r += p[0] - math.Max(p[1], 1)
		}
	}
	return r
}

// LoadOf is standby s's load with these containers (those on s count).
func LoadOf(s Standby, containers []Container) Load {
	var u usage
	for _, c := range containers {
		if c.Standby == s.Name {
			u = usage{u.count + 1, u.cpu + c.CPUCores, u.mem + c.MemoryBytes}
		}
	}
	return s.load(u)
}

// Plan returns the moves that bring every standby under its thresholds, in order, and
// the standbys it could not relieve (no movable container fits anywhere).
func Plan(standbys []Standby, containers []Container) ([]Move, []string) {
	use := map[string]usage{}
	for _, s := range standbys {
		use[s.Name] = usage{}
	}
	cs := append([]Container(nil), containers...)
	for _, c := range cs {
		u := use[c.Standby]
		use[c.Standby] = usage{u.count + 1, u.cpu + c.CPUCores, u.mem + c.MemoryBytes}
	}
	moved := map[string]bool{}
	var moves []Move
	stuck := map[string]bool{}
	for {
		// The most overloaded standby not given up on (ties: inventory order).
		var src *Standby
		srcLoad := 0.0
		for i := range standbys {
			l := standbys[i].load(use[standbys[i].Name])
			if l.over() && !stuck[standbys[i].Name] && (src == nil || l.Max() > srcLoad) {
				src, srcLoad = &standbys[i], l.Max()
			}
		}
		if src == nil {
			break
		}
		// A single move that brings the standby under wins, the cheapest such; else the
		// best relief per MiB to copy (at least 1 MiB: an empty container is not free).
		best, bestTo, bestScore, bestResolves := -1, "", 0.0, false
		for i, c := range cs {
			if c.Standby != src.Name || !c.Movable || moved[c.Name] {
				continue
			}
			u := use[src.Name]
			r := src.relief(u, c)
			if r <= 0 {
				continue
			}
			to := headroom(standbys, use, c, src.Name)
			if to == "" {
				continue
			}
			resolves := !src.load(usage{u.count - 1, u.cpu - c.CPUCores, u.mem - c.MemoryBytes}).over()
			score := r / math.Max(float64(c.DiskBytes)/(1<<20), 1)
			if resolves {
				score = -float64(c.DiskBytes) // among resolving moves: the fewest bytes
			}
			better := best < 0 || resolves && !bestResolves ||
				resolves == bestResolves && (score > bestScore || score == bestScore && c.Name < cs[best].Name)
			if better {
				best, bestTo, bestScore, bestResolves = i, to, score, resolves
			}
		}
		if best < 0 {
			stuck[src.Name] = true
			continue
		}
		c := cs[best]
		before := src.load(use[src.Name])
		u := use[src.Name]
		use[src.Name] = usage{u.count - 1, u.cpu - c.CPUCores, u.mem - c.MemoryBytes}
		t := use[bestTo]
		use[bestTo] = usage{t.count + 1, t.cpu + c.CPUCores, t.mem + c.MemoryBytes}
		moved[c.Name] = true
		cs[best].Standby = bestTo
		moves = append(moves, Move{Container: c.Name, From: src.Name, To: bestTo,
			Reason: fmt.Sprintf("%s over (count %.2f, cpu %.2f, memory %.2f of its thresholds)", src.Name, before.Count, before.CPU, before.Memory)})
	}
	var left []string
	for s := range stuck {
		left = append(left, s)
	}
	sort.Strings(left)
	return moves, left
}

// headroom returns the standby other than from that stays under every threshold with c
// and has the lowest load afterwards ("" when none fits).
func headroom(standbys []Standby, use map[string]usage, c Container, from string) string {
	best, bestLoad := "", 0.0
	for _, s := range standbys {
		if s.Name == from {
			continue
		}
		u := use[s.Name]
		l := s.load(usage{u.count + 1, u.cpu + c.CPUCores, u.mem + c.MemoryBytes})
		if l.over() {
			continue
		}
		if best == "" || l.Max() < bestLoad || l.Max() == bestLoad && s.Name < best {
			best, bestLoad = s.Name, l.Max()
		}
	}
	return best
}
