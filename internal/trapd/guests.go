package trapd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/vcrcovery/vcrcovery/internal/atomicfile"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// guests remembers every guest UUID seen per hypervisor, persisted under state_dir, so
// that the discovery value trapd sends is always the full set: Zabbix LLD treats a guest
// missing from a discovery value as lost (zabbix.GuestDiscovery).
type guests struct {
	path string
	inv  *config.Inventory

	mu   sync.Mutex
	seen map[string]map[string]string // hypervisor name -> UUID -> libvirt name
}

func loadGuests(path string, inv *config.Inventory) (*guests, error) {
	g := &guests{path: path, inv: inv, seen: map[string]map[string]string{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return g, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read known guests: %w", err)
	}
	if err := json.Unmarshal(b, &g.seen); err != nil {
		return nil, fmt.Errorf("known guests %s: %w", path, err)
	}
	if g.seen == nil {
		g.seen = map[string]map[string]string{}
	}
	return g, nil
}

// observe records a guest seen on hypervisor hyp and reports whether the set (or the
// guest's name) changed; the change is saved before observe returns, so a discovery
// value is never based on a set that a crash would forget.
func (g *guests) observe(hyp, uuid, name string) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.seen[hyp]
	if m == nil {
		m = map[string]string{}
		g.seen[hyp] = m
	}
	if old, ok := m[uuid]; ok && old == name {
		return false, nil
	}
	m[uuid] = name
	b, _ := json.MarshalIndent(g.seen, "", "  ")
	if err := atomicfile.Write(g.path, b, 0o600); err != nil {
		return true, fmt.Errorf("save known guests: %w", err)
	}
	return true, nil
}

// discovery is the value of vcr.guest.discovery for hypervisor hyp: the inventory's
// services on it and every guest seen there.
func (g *guests) discovery(hyp string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	rows := map[string]zabbix.Guest{}
	services := map[string]*config.Service{}
	for i := range g.inv.Services {
		s := &g.inv.Services[i]
		uuid := s.VMUUID.String()
		services[uuid] = s
		if s.Hypervisor != hyp {
			continue
		}
		// Until a trap names it, the VM is shown by its service's name.
		rows[uuid] = zabbix.Guest{UUID: uuid, Name: s.Name}
	}
	for uuid, name := range g.seen[hyp] {
		r := rows[uuid]
		r.UUID, r.Name = uuid, name
		rows[uuid] = r
	}
	out := make([]zabbix.Guest, 0, len(rows))
	for uuid, r := range rows {
		if s, ok := services[uuid]; ok {
			r.Service, r.Standby = s.Name, s.Standby.Host
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UUID < out[j].UUID })
	return zabbix.GuestDiscovery(out)
}
