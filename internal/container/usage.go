package container

import (
	"context"
	"fmt"
	"time"

	"github.com/canonical/lxd/shared/api"
)

// Resources is a server's size, as LXD reports it.
type Resources struct {
	CPUs        float64 // hardware threads
	MemoryBytes uint64
}

// Resources asks the server how big it is.
func (s *Server) Resources(ctx context.Context) (Resources, error) {
	r, err := s.c.GetServerResources()
	if err != nil {
		return Resources{}, fmt.Errorf("resources of %s: %w", s.Name, err)
	}
	return Resources{CPUs: float64(r.CPU.Total), MemoryBytes: r.Memory.Total}, nil
}

// Usage is what one running container uses.
type Usage struct {
	Name        string
	CPUCores    float64 // CPU time per wall time over the sampling interval
	MemoryBytes uint64
	DiskBytes   uint64 // root disk usage (0 when the pool does not report it, e.g. dir)
}

// Usage samples the running containers twice, interval apart (LXD reports CPU time
// used since the start; the rate needs two readings), in one request each.
func (s *Server) Usage(ctx context.Context, interval time.Duration) ([]Usage, error) {
	first, t0, err := s.sample()
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(interval):
	}
	second, t1, err := s.sample()
	if err != nil {
		return nil, err
	}
	var out []Usage
	for name, st := range second {
		u := Usage{Name: name, MemoryBytes: uint64(max(st.Memory.Usage, 0))}
		if d, ok := st.Disk["root"]; ok && d.Usage > 0 {
			u.DiskBytes = uint64(d.Usage)
		}
		if prev, ok := first[name]; ok && st.CPU.Usage >= prev.CPU.Usage {
			u.CPUCores = float64(st.CPU.Usage-prev.CPU.Usage) / float64(t1.Sub(t0).Nanoseconds())
		}
		out = append(out, u)
	}
	return out, nil
}

func (s *Server) sample() (map[string]*api.InstanceState, time.Time, error) {
	insts, err := s.c.GetInstancesFull(api.InstanceTypeContainer)
	now := time.Now()
	if err != nil {
		return nil, now, fmt.Errorf("usage of containers on %s: %w", s.Name, err)
	}
	out := map[string]*api.InstanceState{}
	for _, i := range insts {
		if i.State != nil && (i.StatusCode == api.Running || i.StatusCode == api.Frozen) {
			out[i.Name] = i.State
		}
	}
	return out, now, nil
}
