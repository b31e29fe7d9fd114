package sampler

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cpuusage"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// State is what the sender keeps between rounds: in memory in daemon mode, in the
// state file between cron runs (-once).
type State struct {
	Hypervisors map[string]*HypervisorState
}

// HypervisorState is one hypervisor's part of the State.
type HypervisorState struct {
	// Snapshot is the previous sample, nil before the first.
	Snapshot *cpuusage.Snapshot
	// DiscoveryHash identifies the last discovery value sent; DiscoveryAt is when.
	DiscoveryHash uint64
	DiscoveryAt   cpuusage.Reading
	// Failed: the last round failed; the hypervisor is polled after the others.
	Failed bool
}

// NewState returns an empty state.
func NewState() *State { return &State{Hypervisors: map[string]*HypervisorState{}} }

// stateVersion is the state file's format version; a file of another version is
// ignored (the sender starts afresh: one sample without CPU values).
const stateVersion = 1

type stateFile struct {
	Version     int               `json:"version"`
	Hypervisors map[string]hvFile `json:"hypervisors"`
}

type readingFile struct {
	Wall   time.Time `json:"wall"`
	MonoNS int64     `json:"mono_ns"`
	Boot   string    `json:"boot"`
}

type hvFile struct {
	At    *readingFile `json:"at,omitempty"`
	Asked *readingFile `json:"asked,omitempty"`
	// Guests maps a guest's UUID to [CpuTime ns, vCPUs].
	Guests        map[string][2]uint64 `json:"guests,omitempty"`
	Sentinels     []string             `json:"sentinels,omitempty"`
	DiscoveryHash string               `json:"discovery_hash,omitempty"`
	DiscoveryAt   *readingFile         `json:"discovery_at,omitempty"`
	Failed        bool                 `json:"failed,omitempty"`
}

func toFile(r cpuusage.Reading) *readingFile {
	return &readingFile{Wall: r.Wall, MonoNS: int64(r.Mono), Boot: r.Boot}
}

func fromFile(r *readingFile) (cpuusage.Reading, error) {
	if r == nil {
		return cpuusage.Reading{}, nil
	}
	if r.MonoNS < 0 {
		return cpuusage.Reading{}, fmt.Errorf("negative monotonic time %d", r.MonoNS)
	}
	return cpuusage.Reading{Wall: r.Wall, Mono: time.Duration(r.MonoNS), Boot: r.Boot}, nil
}

// Encode returns the state file's content (JSON).
func (s *State) Encode() ([]byte, error) {
	f := stateFile{Version: stateVersion, Hypervisors: map[string]hvFile{}}
	for name, h := range s.Hypervisors {
		hf := hvFile{Failed: h.Failed}
		if h.DiscoveryHash != 0 {
			hf.DiscoveryHash = strconv.FormatUint(h.DiscoveryHash, 16)
			hf.DiscoveryAt = toFile(h.DiscoveryAt)
		}
		if sn := h.Snapshot; sn != nil {
			hf.At = toFile(sn.At)
			if sn.Asked != (cpuusage.Reading{}) {
				hf.Asked = toFile(sn.Asked)
			}
			hf.Guests = make(map[string][2]uint64, len(sn.Guests))
			for u, b := range sn.Guests {
				hf.Guests[u.String()] = [2]uint64{b.CPUTime, uint64(b.VCPUs)}
			}
			for _, u := range sn.Sentinels {
				hf.Sentinels = append(hf.Sentinels, u.String())
			}
		}
		f.Hypervisors[name] = hf
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return b, nil
}

// DecodeState parses a state file. It is outside input (any process or person may
// have written the file), so every field is checked.
func DecodeState(b []byte) (*State, error) {
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	if f.Version != stateVersion {
		return nil, fmt.Errorf("decode state: version %d, want %d", f.Version, stateVersion)
	}
	s := NewState()
	names := make([]string, 0, len(f.Hypervisors))
	for n := range f.Hypervisors {
		names = append(names, n)
	}
	sort.Strings(names) // the same error for the same file
	for _, name := range names {
		hf := f.Hypervisors[name]
		if name == "" {
			return nil, fmt.Errorf("decode state: a hypervisor without a name")
		}
		h := &HypervisorState{Failed: hf.Failed}
		if hf.DiscoveryHash != "" {
			n, err := strconv.ParseUint(hf.DiscoveryHash, 16, 64)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("decode state: hypervisor %s: discovery_hash %q", name, hf.DiscoveryHash)
			}
			h.DiscoveryHash = n
			if h.DiscoveryAt, err = fromFile(hf.DiscoveryAt); err != nil {
				return nil, fmt.Errorf("decode state: hypervisor %s: discovery_at: %w", name, err)
			}
		}
		if hf.At != nil {
			at, err := fromFile(hf.At)
			if err != nil {
				return nil, fmt.Errorf("decode state: hypervisor %s: at: %w", name, err)
			}
			asked, err := fromFile(hf.Asked)
			if err != nil {
				return nil, fmt.Errorf("decode state: hypervisor %s: asked: %w", name, err)
			}
			sn := &cpuusage.Snapshot{At: at, Asked: asked, Guests: make(map[libvirtmib.UUID]cpuusage.Base, len(hf.Guests))}
			for us, v := range hf.Guests {
				u, err := libvirtmib.ParseUUID(us)
				if err != nil {
					return nil, fmt.Errorf("decode state: hypervisor %s: %w", name, err)
				}
				if v[1] > math.MaxUint32 {
					return nil, fmt.Errorf("decode state: hypervisor %s: guest %s: %d vCPUs", name, us, v[1])
				}
				sn.Guests[u] = cpuusage.Base{CPUTime: v[0], VCPUs: uint32(v[1])}
			}
			for _, us := range hf.Sentinels {
				u, err := libvirtmib.ParseUUID(us)
				if err != nil {
					return nil, fmt.Errorf("decode state: hypervisor %s: sentinel: %w", name, err)
				}
				if _, ok := sn.Guests[u]; !ok {
					return nil, fmt.Errorf("decode state: hypervisor %s: sentinel %s is not a guest", name, us)
				}
				sn.Sentinels = append(sn.Sentinels, u)
			}
			h.Snapshot = sn
		} else if len(hf.Guests) > 0 || len(hf.Sentinels) > 0 {
			return nil, fmt.Errorf("decode state: hypervisor %s: guests without a sample time", name)
		}
		s.Hypervisors[name] = h
	}
	return s, nil
}
