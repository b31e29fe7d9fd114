package provision

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
	templates "github.com/vcrcovery/vcrcovery/zabbix-templates"
)

// Host tags. Events inherit their host's tags, so these must not reuse the names of the
// trigger tags that the recover action and the wrapper read (vcrcovery, service,
// standby): a host tag service=web1 would make {EVENT.TAGS.service} ambiguous.
const (
	TagRole    = "vcr.role" // hypervisor, vm, standby or pooled
	TagService = "vcr.service"
	TagStandby = "vcr.standby"
	// TagInventory's value is the inventory's zabbix.prefix, on every host it has. Its
	// events inherit it, so each action only takes its own inventory's problems (two
	// inventories may both have a standby named "standby"), and -prune only ever
	// deletes hosts that carry its own prefix.
	TagInventory = "vcr.inventory"
)

// agentPort is the Zabbix agent's default port (protected VMs, standbys without
// Options.StandbyAgents).
const agentPort = 10050

// hostSpec is what provisioning wants of one Zabbix host. Lists are minimums: a host
// may have more groups, templates and tags than these.
type hostSpec struct {
	Name string
	// Role describes the host in messages: "hypervisor lab-kvm", "VM of service web1".
	Role      string
	Groups    []string
	Templates []string
	Tags      []zabbix.Tag
	// Agent is the main agent interface to have, nil for none (trapper-only hosts).
	Agent *zabbix.Interface
	// AgentGiven: the operator named this address (-standby-agent), so an existing
	// agent interface elsewhere is moved to it. A derived address (a VM's
	// primary_address, a standby's host name) only applies to a host without one.
	AgentGiven bool
	// External hosts are not in the inventory (a -trapd-host of the operator's): they
	// must exist, and only get templates and macros.
	External bool
	// Macros are host macros to have with these values (the cloud template's groups).
	Macros []zabbix.Macro
}

// The cloud template's macros naming the groups it watches; vcr-provision sets them on
// the cloud host to the inventory's groups, so that each inventory's group checks watch
// its own hosts.
const (
	MacroGroupStandbys = "{$VCR.GROUP.STANDBYS}"
	MacroGroupVMs      = "{$VCR.GROUP.VMS}"
)

// actionSpec is the recover or the migrate action of one standby.
type actionSpec struct {
	Name    string
	Standby string // standbys[].name: the value of the trigger tag "standby"
	Host    string // the standby's Zabbix host, where the command runs
	Tag     string // the value of the trigger tag "vcrcovery": recover or migrate
	Script  string // the global script the action runs
}

// plan is the whole desired state, derived from the inventory and options alone.
type plan struct {
	Names     Names
	Templates []templates.Template
	Groups    []string
	Hosts     []*hostSpec
	Script    zabbix.Script // GroupID is filled in at run time
	// MigrateScript runs scripts/zabbix-migrate ("vcrcovery migrate auto").
	MigrateScript zabbix.Script
	// FastPath are the manual host scripts "vcrcovery recover SERVICE" that trapd runs
	// with script.execute (only scope-2 scripts can be executed through the API).
	FastPath []zabbix.Script
	Actions  []actionSpec
	// Discovery maps each standby's Zabbix host to the services it protects.
	Discovery map[string][]string
	// DiscoveryOrder lists Discovery's hosts in inventory order.
	DiscoveryOrder []string
}

// newPlan derives the desired state. It fails on options that do not fit the
// inventory, with errors that wrap ErrOptions.
func newPlan(inv *config.Inventory, opts Options) (*plan, error) {
	tpls, err := templates.All()
	if err != nil {
		return nil, err
	}
	p, err := planFor(inv, opts, tpls)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return p, nil
}

func planFor(inv *config.Inventory, opts Options, tpls []templates.Template) (*plan, error) {
	n := NamesFor(inv)
	p := &plan{
		Names:     n,
		Templates: tpls,
		Groups:    []string{n.GroupHypervisors(), n.GroupVMs(), n.GroupStandbys()},
		Discovery: map[string][]string{},
	}
	byName := map[string]*hostSpec{}
	add := func(h *hostSpec) error {
		if !h.External {
			h.Tags = append(h.Tags, zabbix.Tag{Tag: TagInventory, Value: n.Prefix})
		}
		prev, ok := byName[h.Name]
		if !ok {
			byName[h.Name] = h
			p.Hosts = append(p.Hosts, h)
			return nil
		}
		// One Zabbix host in two roles (say a standby that is also the trapd host):
		// it gets what both need, but not two different agent addresses.
		if prev.Agent != nil && h.Agent != nil && !sameInterface(*prev.Agent, *h.Agent) {
			return fmt.Errorf("zabbix host %s is %s (agent %s) and %s (agent %s): one host has one agent address",
				h.Name, prev.Role, addrOf(*prev.Agent), h.Role, addrOf(*h.Agent))
		}
		if prev.Agent == nil {
			prev.Agent = h.Agent
		}
		prev.AgentGiven = prev.AgentGiven || h.AgentGiven
		prev.Role += " and " + h.Role
		prev.Groups = union(prev.Groups, h.Groups)
		prev.Templates = union(prev.Templates, h.Templates)
		prev.Tags = unionTags(prev.Tags, h.Tags)
		prev.Macros = append(prev.Macros, h.Macros...)
		prev.External = prev.External && h.External
		return nil
	}

	for _, h := range inv.Hypervisors {
		err := add(&hostSpec{
			Name: h.ZabbixHost, Role: "hypervisor " + h.Name,
			Groups: []string{n.GroupHypervisors()}, Templates: []string{templates.Hypervisor},
			Tags: []zabbix.Tag{{Tag: TagRole, Value: "hypervisor"}},
		})
		if err != nil {
			return nil, err
		}
	}
	for _, s := range inv.Services {
		agent, err := hostInterface(config.HostPortFrom(s.PrimaryAddress.String(), agentPort))
		if err != nil {
			return nil, fmt.Errorf("service %s: primary_address: %w", s.Name, err)
		}
		err = add(&hostSpec{
			Name: s.ZabbixHost, Role: "VM of service " + s.Name,
			Groups: []string{n.GroupVMs()}, Agent: agent,
			Tags: []zabbix.Tag{{Tag: TagRole, Value: "vm"}, {Tag: TagService, Value: s.Name}},
		})
		if err != nil {
			return nil, err
		}
	}
	// A pooled service's host is trapper-only: the service runs in a container on
	// whichever pool host owns it now, so no agent address would stay right.
	for _, s := range inv.Pooled {
		err := add(&hostSpec{
			Name: s.ZabbixHost, Role: "pooled service " + s.Name,
			Groups: []string{n.GroupPooled()}, Templates: []string{templates.Pooled},
			Tags: []zabbix.Tag{{Tag: TagRole, Value: "pooled"}, {Tag: TagService, Value: s.Name}},
		})
		if err != nil {
			return nil, err
		}
	}
	if len(inv.Pooled) > 0 {
		p.Groups = append(p.Groups, n.GroupPooled())
	}
	for name := range opts.StandbyAgents {
		if _, ok := inv.Standby(name); !ok {
			return nil, fmt.Errorf("-standby-agent %s: no standby of that name in the inventory (have: %s)",
				name, strings.Join(standbyNames(inv), ", "))
		}
	}
	for _, sb := range inv.Standbys {
		flag, given := opts.StandbyAgents[sb.Name]
		var agent *zabbix.Interface
		var err error
		switch {
		case given:
			agent, err = agentInterface(flag)
		case !sb.ZabbixAgent.IsZero():
			agent, err = hostInterface(sb.ZabbixAgent)
			given = true
		default:
			agent, err = hostInterface(config.HostPortFrom(sb.ZabbixHost, agentPort))
		}
		if err != nil {
			return nil, fmt.Errorf("-standby-agent %s: %w", sb.Name, err)
		}
		err = add(&hostSpec{
			Name: sb.ZabbixHost, Role: "standby " + sb.Name,
			Groups: []string{n.GroupStandbys()}, Templates: []string{templates.Standby}, Agent: agent, AgentGiven: given,
			Tags: []zabbix.Tag{{Tag: TagRole, Value: "standby"}, {Tag: TagStandby, Value: sb.Name}},
		})
		if err != nil {
			return nil, err
		}
		p.Actions = append(p.Actions,
			actionSpec{Name: n.RecoverAction(sb.Name), Standby: sb.Name, Host: sb.ZabbixHost, Tag: "recover", Script: n.RecoverScript()},
			actionSpec{Name: n.MigrateAction(sb.Name), Standby: sb.Name, Host: sb.ZabbixHost, Tag: "migrate", Script: n.MigrateScript()})
		var svcs []string
		for _, s := range inv.Services {
			if s.Standby.Host == sb.Name {
				svcs = append(svcs, s.Name)
			}
		}
		if _, dup := p.Discovery[sb.ZabbixHost]; !dup {
			p.DiscoveryOrder = append(p.DiscoveryOrder, sb.ZabbixHost)
		}
		p.Discovery[sb.ZabbixHost] = append(p.Discovery[sb.ZabbixHost], svcs...)
	}

	cloudMacros := []zabbix.Macro{{Macro: MacroGroupStandbys, Value: n.GroupStandbys()}, {Macro: MacroGroupVMs, Value: n.GroupVMs()}}
	for _, x := range []struct {
		flag, role, host, template string
		macros                     []zabbix.Macro
	}{
		{"-trapd-host", "trapd host", opts.TrapdHost, templates.Trapd, nil},
		{"-cloud-host", "group checks host", opts.CloudHost, templates.Cloud, cloudMacros},
	} {
		host := x.host
		if host == "" {
			if len(inv.Standbys) == 0 {
				return nil, fmt.Errorf("%s: the inventory has no standbys to default to: name a Zabbix host", x.flag)
			}
			host = inv.Standbys[0].ZabbixHost
		}
		err := add(&hostSpec{Name: host, Role: x.role, Templates: []string{x.template}, External: true, Macros: x.macros})
		if err != nil {
			return nil, err
		}
	}

	cmdPath, err := commandPath("-recover-command", opts.RecoverCommand, DefaultRecoverCommand)
	if err != nil {
		return nil, err
	}
	migratePath, err := commandPath("-migrate-command", opts.MigrateCommand, DefaultMigrateCommand)
	if err != nil {
		return nil, err
	}
	p.Script = zabbix.Script{
		Name:    n.RecoverScript(),
		Command: recoverCommand(cmdPath),
		Description: "vcrcovery: runs vcr-recover, through scripts/zabbix-recover, for the service of a problem " +
			"tagged vcrcovery=recover, on the standby VM that the action names. Arguments: service tag, " +
			"event ID, trigger ID. Managed by vcr-provision.",
		Type: zabbix.ScriptTypeCustom, Scope: zabbix.ScriptScopeAction, ExecuteOn: zabbix.ScriptOnAgent,
	}
	p.MigrateScript = zabbix.Script{
		Name:    n.MigrateScript(),
		Command: migrateCommand(migratePath),
		Description: "vcrcovery: runs vcr-migrate -auto, through scripts/zabbix-migrate, for a problem tagged " +
			"vcrcovery=migrate (an overloaded standby VM), on the standby VM that the action names. " +
			"Argument: event ID. Managed by vcr-provision.",
		Type: zabbix.ScriptTypeCustom, Scope: zabbix.ScriptScopeAction, ExecuteOn: zabbix.ScriptOnAgent,
	}
	for _, s := range inv.Services {
		if !s.FastPath {
			continue
		}
		p.FastPath = append(p.FastPath, zabbix.Script{
			Name:    n.FastPath(s.Name),
			Command: shellQuote(cmdPath) + " " + shellQuote(s.Name) + " fast-path",
			Description: "vcrcovery: runs vcr-recover for service " + s.Name + " at once when trapd receives a " +
				"shutoff or crashed trap of its primary VM (fast path). Managed by vcr-provision.",
			Type: zabbix.ScriptTypeCustom, Scope: zabbix.ScriptScopeHost, ExecuteOn: zabbix.ScriptOnAgent,
		})
	}
	return p, nil
}

// commandPath is the option's path, or def when it is empty; the agent runs it with its
// own PATH, so it must be absolute.
func commandPath(flag, path, def string) (string, error) {
	if path == "" {
		path = def
	}
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("%s %q: want an absolute path (the agent runs it with its own PATH)", flag, path)
	}
	return path, nil
}

// agentInterface parses a -standby-agent host:port into a main agent interface.
func agentInterface(addr string) (*zabbix.Interface, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("agent address %q: want host:port", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("agent address %q: port must be 1-65535", addr)
	}
	return hostInterface(config.HostPortFrom(host, uint16(n)))
}

// hostInterface is the main agent interface at hp: by IP when its host is an address,
// else by DNS name.
func hostInterface(hp config.HostPort) (*zabbix.Interface, error) {
	i := &zabbix.Interface{Type: zabbix.InterfaceAgent, Main: 1, Port: strconv.Itoa(int(hp.Port()))}
	if ap, ok := hp.AddrPort(); ok {
		i.UseIP, i.IP = 1, ap.Addr().String()
		return i, nil
	}
	if hp.Host() == "" || strings.ContainsAny(hp.Host(), " /'\"\\") {
		return nil, fmt.Errorf("agent address %q: host must be an IP address or a DNS name", hp)
	}
	i.DNS = hp.Host()
	return i, nil
}

// sameInterface compares what matters of two agent interfaces: where they connect.
func sameInterface(a, b zabbix.Interface) bool {
	return a.UseIP == b.UseIP && a.Port == b.Port &&
		(a.UseIP == 1 && a.IP == b.IP || a.UseIP == 0 && a.DNS == b.DNS)
}

func addrOf(i zabbix.Interface) string {
	if i.UseIP == 1 {
		return net.JoinHostPort(i.IP, i.Port)
	}
	return net.JoinHostPort(i.DNS, i.Port)
}

func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, s := range b {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func unionTags(a, b []zabbix.Tag) []zabbix.Tag {
	out := append([]zabbix.Tag(nil), a...)
	for _, t := range b {
		if !containsTag(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func containsTag(list []zabbix.Tag, t zabbix.Tag) bool {
	for _, x := range list {
		if x == t {
			return true
		}
	}
	return false
}

func standbyNames(inv *config.Inventory) []string {
	var names []string
	for _, s := range inv.Standbys {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names
}
