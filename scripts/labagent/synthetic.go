package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// synthetic generates guests that exist only in the table, so the sender's benchmark can
// walk 1,000-10,000 rows on one machine. Guest i is always the same (name, UUID, size)
// and runs with a steady load, so its CpuTime grows at a fixed rate.
type synthetic struct {
	// N is the number of guests, unless File names a readable file holding a number.
	N    int
	File string
	// Start is when the guests "booted"; CpuTime grows from there.
	Start time.Time
	Now   func() time.Time
}

// syntheticUUIDPrefix marks generated guests: c0ffee00-5e17-4000-8000-<12 hex digits of i>.
var syntheticUUIDPrefix = [10]byte{0xc0, 0xff, 0xee, 0x00, 0x5e, 0x17, 0x40, 0x00, 0x80, 0x00}

func (s synthetic) count() (int, error) {
	if s.File != "" {
		b, err := os.ReadFile(s.File)
		if err == nil {
			n, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || n < 0 {
				return 0, fmt.Errorf("synthetic guest count in %s: want a number >= 0, got %q", s.File, strings.TrimSpace(string(b)))
			}
			return n, nil
		}
		if !os.IsNotExist(err) {
			return 0, fmt.Errorf("read synthetic guest count: %w", err)
		}
	}
	return s.N, nil
}

// Guests returns the generated guests as they are now.
func (s synthetic) Guests(context.Context) ([]Guest, error) {
	n, err := s.count()
	if err != nil {
		return nil, err
	}
	elapsed := uint64(max(s.Now().Sub(s.Start), 0))
	guests := make([]Guest, n)
	for i := range guests {
		guests[i] = syntheticGuest(i, elapsed)
	}
	return guests, nil
}

// syntheticGuest returns generated guest i, elapsed ns after the start: 1-4 vCPUs,
// 256-1024 MiB, busy at 1-100 % of one vCPU.
func syntheticGuest(i int, elapsed uint64) Guest {
	var u libvirtmib.UUID
	copy(u[:], syntheticUUIDPrefix[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(i))
	copy(u[10:], n[2:])
	load := uint64(i%100 + 1) // per cent of one vCPU
	mem := uint32(256 * (1 + i%4))
	return Guest{
		UUID:         u,
		Name:         fmt.Sprintf("synth%05d", i),
		State:        libvirtmib.StateRunning,
		CPUs:         uint32(1 + i%4),
		MemoryMiB:    mem * 3 / 4,
		MemoryMaxMiB: mem,
		CPUTimeNanos: uint64(i)*1e9 + elapsed*load/100,
	}
}

// sources joins the guests of several sources. A failing source is reported and the
// others are still served.
type sources []source

func (ss sources) Guests(ctx context.Context) ([]Guest, error) {
	var all []Guest
	var errs []error
	for _, s := range ss {
		g, err := s.Guests(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, g...)
	}
	return all, errors.Join(errs...)
}
