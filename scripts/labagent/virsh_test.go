package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib/guesttable"
)

func TestParseList(t *testing.T) {
	out := "6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01 web1\n6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a02 web2\n\n"
	got, err := parseList(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []listedDomain{{uuidA, "web1"}, {uuidB, "web2"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	for _, bad := range []string{"web1\n", "6f1c8a52 web1\n"} {
		if _, err := parseList(bad); err == nil {
			t.Errorf("parseList(%q): no error", bad)
		}
	}
}

// Output of `virsh -q dominfo` of libvirt 9.0's LXC driver.
const (
	dominfoRunning = `Id:             21425
Name:           web1
UUID:           6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01
OS Type:        exe
State:          running
CPU(s):         1
CPU time:       0.0s
Max memory:     65536 KiB
Used memory:    776 KiB
Persistent:     yes
Autostart:      disable
Managed save:   no
Security model: none
Security DOI:   0
`
	dominfoShutOff = `Id:             -
Name:           web2
UUID:           6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a02
OS Type:        exe
State:          shut off
CPU(s):         1
Max memory:     65536 KiB
Used memory:    65536 KiB
Persistent:     yes
Autostart:      disable
Managed save:   no
Security model: none
Security DOI:   0
`
)

func TestParseDominfo(t *testing.T) {
	tests := []struct {
		name, in string
		want     dominfo
		wantErr  bool
	}{
		{name: "running", in: dominfoRunning, want: dominfo{ID: "21425", State: libvirtmib.StateRunning, CPUs: 1, MaxMemoryKiB: 65536, MemoryKiB: 776}},
		{name: "shut off", in: dominfoShutOff, want: dominfo{State: libvirtmib.StateShutoff, CPUs: 1, MaxMemoryKiB: 65536, MemoryKiB: 65536}},
		{name: "no state line", in: "Id: 1\nCPU(s): 1\nMax memory: 1 KiB\nUsed memory: 1 KiB\n", wantErr: true},
		{name: "unknown state", in: "State: sleepy\n", wantErr: true},
		{name: "memory unit", in: "State: running\nCPU(s): 1\nMax memory: 64 MiB\nUsed memory: 1 KiB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDominfo(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestParseState(t *testing.T) {
	got := map[string]libvirtmib.GuestState{}
	for _, s := range []string{"no state", "running", "idle", "paused", "in shutdown", "shut off", "crashed", "pmsuspended"} {
		st, err := parseState(s)
		if err != nil {
			t.Fatal(err)
		}
		got[s] = st
	}
	want := map[string]libvirtmib.GuestState{"no state": 0, "running": 1, "idle": 2, "paused": 3,
		"in shutdown": 4, "shut off": 5, "crashed": 6, "pmsuspended": 7}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestParseCPUStats(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"Total:\n\tcpu_time             0.015156042 seconds\n\tuser_time            0.000000000 seconds\n", 15156042},
		{"Total:\n\tcpu_time  12.5 seconds\n", 12_500_000_000},
		{"Total:\n\tcpu_time  3 seconds\n", 3_000_000_000},
		{"Total:\n\tcpu_time  1.1234567891 seconds\n", 1_123_456_789},
	}
	for _, tt := range tests {
		got, err := parseCPUStats(tt.in)
		if err != nil {
			t.Fatalf("parseCPUStats(%q): %v", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("parseCPUStats(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
	if _, err := parseCPUStats("Total:\n"); err == nil {
		t.Error("no cpu_time line: no error")
	}
}

func TestCgroupCPUTime(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "cpuacct", "machine", "lxc-21425-web1.libvirt-lxc")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cpuacct.usage"), []byte("15156042\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := virsh{CgroupRoot: root}.cpuTime(context.Background(), "21425", "web1")
	if err != nil {
		t.Fatal(err)
	}
	if got != 15156042 {
		t.Errorf("cpuTime = %d, want 15156042", got)
	}
}

func TestSynthetic(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start
	s := synthetic{N: 3, Start: start, Now: func() time.Time { return now }}
	g0, err := s.Guests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Second)
	g1, _ := s.Guests(context.Background())
	if len(g0) != 3 || len(g1) != 3 {
		t.Fatalf("got %d and %d guests, want 3", len(g0), len(g1))
	}
	for i := range g0 {
		if g1[i].UUID != g0[i].UUID || g1[i].Name != g0[i].Name {
			t.Errorf("guest %d changed identity: %v -> %v", i, g0[i], g1[i])
		}
		// Guest i is busy at (i+1) % of one vCPU: 10 s add (i+1) * 100 ms.
		if d := g1[i].CPUTimeNanos - g0[i].CPUTimeNanos; d != uint64(i+1)*100_000_000 {
			t.Errorf("guest %d: CpuTime grew by %d ns in 10 s, want %d", i, d, (i+1)*100_000_000)
		}
	}
	want := "c0ffee00-5e17-4000-8000-000000000002"
	if got := g0[2].UUID.String(); got != want {
		t.Errorf("guest 2 UUID %s, want %s", got, want)
	}

	f := filepath.Join(t.TempDir(), "n")
	s.File = f
	if g, _ := s.Guests(context.Background()); len(g) != 3 {
		t.Errorf("missing file: %d guests, want -synthetic's 3", len(g))
	}
	os.WriteFile(f, []byte("1000\n"), 0o644)
	g, err := s.Guests(context.Background())
	if err != nil || len(g) != 1000 {
		t.Errorf("file says 1000: %d guests, err %v", len(g), err)
	}
	if guesttable.New(g).Len() != 7000 {
		t.Errorf("table of 1000 guests has %d cells, want 7000", guesttable.New(g).Len())
	}
	os.WriteFile(f, []byte("many\n"), 0o644)
	if _, err := s.Guests(context.Background()); err == nil {
		t.Error("file says many: no error")
	}
}
