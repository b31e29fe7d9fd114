package guesttable

import (
	"fmt"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// SyntheticUUIDPrefix marks generated guests: guest i has the UUID
// c0ffee00-5e17-4000-8000-<12 hex digits of i>.
var SyntheticUUIDPrefix = [10]byte{0xc0, 0xff, 0xee, 0x00, 0x5e, 0x17, 0x40, 0x00, 0x80, 0x00}

// Synthetic returns generated guest i, elapsed after the guests "booted": it exists only
// in the table, so that a walk of 1,000-10,000 rows fits on one machine (the lab agent's
// -synthetic, the sender's benchmarks). Guest i is always the same: name synthNNNNN,
// 1-4 vCPUs, 256-1024 MiB, and it keeps (i%100+1) % of one vCPU busy, so its CpuTime is
// i s + elapsed*(i%100+1)/100.
func Synthetic(i int, elapsed time.Duration) Guest {
	var u libvirtmib.UUID
	copy(u[:], SyntheticUUIDPrefix[:])
	for j := range 6 {
		u[15-j] = byte(uint64(i) >> (8 * j))
	}
	load := uint64(i%100 + 1) // per cent of one vCPU
	mem := uint32(256 * (1 + i%4))
	return Guest{
		UUID:         u,
		Name:         fmt.Sprintf("synth%05d", i),
		State:        libvirtmib.StateRunning,
		CPUs:         uint32(1 + i%4),
		MemoryMiB:    mem * 3 / 4,
		MemoryMaxMiB: mem,
		CPUTimeNanos: uint64(i)*1e9 + uint64(max(elapsed, 0))*load/100,
	}
}

// SyntheticGuests returns generated guests 0 to n-1, elapsed after they booted.
func SyntheticGuests(n int, elapsed time.Duration) []Guest {
	gs := make([]Guest, n)
	for i := range gs {
		gs[i] = Synthetic(i, elapsed)
	}
	return gs
}
