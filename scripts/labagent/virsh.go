package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib/guesttable"
)

// virsh reads libvirt through the virsh client: the lab has no Go libvirt binding (the
// module proxy does not serve one) and a few execs per 5 s cache period are cheap.
type virsh struct {
	URI string
	// CgroupRoot is where the cpuacct controller is mounted; empty means
	// /sys/fs/cgroup. Tests point it elsewhere.
	CgroupRoot string
}

// virshTimeout bounds one virsh run: snmpd waits for the pass_persist program.
const virshTimeout = 3 * time.Second

func (v virsh) run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, virshTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "virsh", append([]string{"-q", "-c", v.URI}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("virsh %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Guests lists every defined domain with the values libvirt-snmp reads with
// virDomainGetInfo: state, vCPUs, memory in MiB and CPU time in ns.
func (v virsh) Guests(ctx context.Context) ([]guesttable.Guest, error) {
	out, err := v.run(ctx, "list", "--all", "--uuid", "--name")
	if err != nil {
		return nil, err
	}
	listed, err := parseList(out)
	if err != nil {
		return nil, err
	}
	guests := make([]guesttable.Guest, 0, len(listed))
	for _, l := range listed {
		out, err := v.run(ctx, "dominfo", l.UUID.String())
		if err != nil {
			// Undefined between the list and now: the next refresh will not list it.
			continue
		}
		info, err := parseDominfo(out)
		if err != nil {
			return nil, fmt.Errorf("domain %s: %w", l.Name, err)
		}
		g := guesttable.Guest{UUID: l.UUID, Name: l.Name, State: info.State, CPUs: info.CPUs,
			MemoryMiB: uint32(info.MemoryKiB / 1024), MemoryMaxMiB: uint32(info.MaxMemoryKiB / 1024)}
		if info.ID != "" {
			if g.CPUTimeNanos, err = v.cpuTime(ctx, info.ID, l.Name); err != nil {
				return nil, fmt.Errorf("domain %s: %w", l.Name, err)
			}
		}
		guests = append(guests, g)
	}
	return guests, nil
}

// cpuTime returns the CPU time of a running LXC domain in ns: the cpuacct.usage of the
// cgroup libvirt made for it (machine/lxc-ID-NAME.libvirt-lxc, ID being the domain's
// id), or `virsh cpu-stats --total` where that file is elsewhere (the LXC driver does not
// support domstats).
func (v virsh) cpuTime(ctx context.Context, id, name string) (uint64, error) {
	root := v.CgroupRoot
	if root == "" {
		root = "/sys/fs/cgroup"
	}
	cg := "machine/lxc-" + id + "-" + name + ".libvirt-lxc/cpuacct.usage"
	for _, ctrl := range []string{"cpuacct", "cpu,cpuacct", "cpuacct,cpu"} {
		b, err := os.ReadFile(filepath.Join(root, ctrl, cg))
		if err == nil {
			return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		}
	}
	out, err := v.run(ctx, "cpu-stats", "--total", name)
	if err != nil {
		return 0, err
	}
	return parseCPUStats(out)
}

// DomainUUID returns the UUID of the domain called name.
func (v virsh) DomainUUID(ctx context.Context, name string) (libvirtmib.UUID, error) {
	out, err := v.run(ctx, "domuuid", name)
	if err != nil {
		return libvirtmib.UUID{}, err
	}
	return libvirtmib.ParseUUID(strings.TrimSpace(out))
}

// DomainState returns the current state of the domain called name.
func (v virsh) DomainState(ctx context.Context, name string) (libvirtmib.GuestState, error) {
	out, err := v.run(ctx, "domstate", name)
	if err != nil {
		return 0, err
	}
	return parseState(strings.TrimSpace(out))
}

type listedDomain struct {
	UUID libvirtmib.UUID
	Name string
}

// parseList parses `virsh -q list --all --uuid --name`: "UUID NAME" per line.
func parseList(out string) ([]listedDomain, error) {
	var ds []listedDomain
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		id, name, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("virsh list: line %q: want UUID and name", line)
		}
		u, err := libvirtmib.ParseUUID(id)
		if err != nil {
			return nil, fmt.Errorf("virsh list: %w", err)
		}
		ds = append(ds, listedDomain{UUID: u, Name: strings.TrimSpace(name)})
	}
	return ds, nil
}

// dominfo holds the fields of `virsh dominfo` that the table needs.
type dominfo struct {
	ID           string // empty while the domain is not running ("-")
	State        libvirtmib.GuestState
	CPUs         uint32
	MaxMemoryKiB uint64
	MemoryKiB    uint64
}

// parseDominfo parses `virsh dominfo` ("Key:   value" lines).
func parseDominfo(out string) (dominfo, error) {
	var d dominfo
	var err error
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		seen[k] = true
		switch k {
		case "Id":
			if val != "-" {
				d.ID = val
			}
		case "State":
			d.State, err = parseState(val)
		case "CPU(s)":
			var n uint64
			n, err = strconv.ParseUint(val, 10, 32)
			d.CPUs = uint32(n)
		case "Max memory":
			d.MaxMemoryKiB, err = parseKiB(val)
		case "Used memory":
			d.MemoryKiB, err = parseKiB(val)
		}
		if err != nil {
			return d, fmt.Errorf("virsh dominfo: %s: %w", k, err)
		}
	}
	for _, k := range []string{"State", "CPU(s)", "Max memory", "Used memory"} {
		if !seen[k] {
			return d, fmt.Errorf("virsh dominfo: no %q line", k)
		}
	}
	return d, nil
}

func parseKiB(s string) (uint64, error) {
	n, ok := strings.CutSuffix(s, " KiB")
	if !ok {
		return 0, fmt.Errorf("%q: want a number of KiB", s)
	}
	return strconv.ParseUint(n, 10, 64)
}

// virshStates maps virsh's state words (virshDomainStateToString) to the MIB's values.
var virshStates = map[string]libvirtmib.GuestState{
	"no state":    libvirtmib.StateNoState,
	"running":     libvirtmib.StateRunning,
	"idle":        libvirtmib.StateBlocked,
	"paused":      libvirtmib.StatePaused,
	"in shutdown": libvirtmib.StateShutdown,
	"shut off":    libvirtmib.StateShutoff,
	"crashed":     libvirtmib.StateCrashed,
	"pmsuspended": libvirtmib.StatePMSuspended,
}

func parseState(s string) (libvirtmib.GuestState, error) {
	st, ok := virshStates[s]
	if !ok {
		return 0, fmt.Errorf("unknown domain state %q", s)
	}
	return st, nil
}

// parseCPUStats parses the cpu_time line of `virsh cpu-stats --total`
// ("cpu_time  12.345678901 seconds") into nanoseconds, without float rounding.
func parseCPUStats(out string) (uint64, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "cpu_time" {
			continue
		}
		sec, frac, _ := strings.Cut(f[1], ".")
		if len(frac) > 9 {
			frac = frac[:9]
		}
		frac += strings.Repeat("0", 9-len(frac))
		s, err1 := strconv.ParseUint(sec, 10, 64)
		ns, err2 := strconv.ParseUint(frac, 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return 0, fmt.Errorf("virsh cpu-stats: cpu_time %q: %w", f[1], err)
		}
		return s*1e9 + ns, nil
	}
	return 0, errors.New("virsh cpu-stats: no cpu_time line")
}
