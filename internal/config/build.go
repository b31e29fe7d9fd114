package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/secret"
)

// Defaults: every value the inventory fills in for a field the file leaves out.
const (
	defaultStateDir      = "/var/lib/vcrcovery"
	defaultZabbixPort    = 10051
	defaultZabbixTimeout = 5 * time.Second
	defaultAgentPort     = 10050 // the standby VM's Zabbix agent
	defaultSNMPPort      = 161
	defaultSNMPTimeout   = 2 * time.Second
	defaultDNSPort       = 53
	// DefaultDNSTTL is dns.ttl's default in seconds (exported: the benchmarks' table
	// states what it costs behind a caching resolver).
	DefaultDNSTTL           = 5
	defaultDNSTimeout       = 2 * time.Second
	defaultProbeTimeout     = 10 * time.Second
	defaultHookTimeout      = 30 * time.Second
	defaultTrapdSpoolMax    = 256 << 20
	defaultTrapdRejectRetry = 3 * time.Minute
	defaultSenderInterval   = 5 * time.Second
	defaultSenderConc       = 16
	defaultFencePortTimeout = 50 * time.Millisecond
	defaultFenceEvidence    = 6 * time.Second
	defaultSyncPeriod       = 5 * time.Minute
	defaultSyncTimeout      = 2 * time.Minute
	defaultSyncMaxAgeFactor = 3 // sync.max_age: this many periods
)

// nameRE is the shape of service, hypervisor, standby and user names. It is strict on
// purpose: recover takes the service name from a Zabbix macro on its command line, and a
// name that can hold no shell or path characters cannot be turned into an injection.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$`)

// containerRE is LXD's instance name rule: letters, digits and hyphens, not starting with
// a digit or hyphen, not ending with a hyphen, at most 63 characters.
var containerRE = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// build makes the typed Inventory from the raw one in one pass and returns every
// problem found, each naming its field path. Relative file names are made absolute
// against baseDir, so a binary started from any working directory (a Zabbix agent's,
// cron's) finds them. Secret files are checked for existence and permissions, and the
// TSIG key is read, here: -check then catches a key that would be refused at 3 a.m.
func build(r *rawInventory, baseDir string) (*Inventory, Errors) {
	b := &builder{base: baseDir}
	inv := &Inventory{}
	inv.StateDir = b.path(deref(r.StateDir, defaultStateDir))
	if inv.StateDir == "" || !filepath.IsAbs(inv.StateDir) {
		b.add("state_dir", "must be an absolute path, got %q", inv.StateDir)
	}
	inv.Zabbix = b.zabbix(&r.Zabbix)
	inv.SNMP = b.snmp(&r.SNMP)
	inv.DNS = b.dns(&r.DNS, len(r.Services) > 0)

	hyps := b.names("hypervisors", len(r.Hypervisors), func(i int) string { return r.Hypervisors[i].Name })
	for i := range r.Hypervisors {
		inv.Hypervisors = append(inv.Hypervisors, b.hypervisor(fmt.Sprintf("hypervisors[%d]", i), &r.Hypervisors[i], inv.SNMP.Users))
	}
	standbys := b.names("standbys", len(r.Standbys), func(i int) string { return r.Standbys[i].Name })
	for i := range r.Standbys {
		inv.Standbys = append(inv.Standbys, b.standby(fmt.Sprintf("standbys[%d]", i), &r.Standbys[i]))
	}
	inv.Pool = b.pool(r.Pool)
	poolHosts := map[string]bool{}
	for _, s := range inv.Standbys {
		if s.Weight > 0 {
			poolHosts[s.Name] = true
		}
	}
	if inv.Pool != nil && len(poolHosts) == 0 {
		b.add("pool", "no standbys entry has a weight: give each pool host one")
	}
	if inv.Pool == nil && len(poolHosts) > 0 {
		b.add("pool", "required: standbys with a weight are pool hosts")
	}
	b.names("services", len(r.Services), func(i int) string { return r.Services[i].Name })
	dnsNames := map[string]string{}
	uniqueDNS := func(p, name string) {
		if name != "" {
			if other, dup := dnsNames[name]; dup {
				b.add(p+".dns_name", "%s is already the name of %s", name, other)
			}
			dnsNames[name] = p
		}
	}
	containers := map[string]string{}
	for i := range r.Services {
		p := fmt.Sprintf("services[%d]", i)
		if r.Services[i].Pool != nil {
			s := b.pooledService(p, &r.Services[i], inv.DNS.Zone, poolHosts, inv.Pool != nil)
			inv.Pooled = append(inv.Pooled, s)
			uniqueDNS(p, s.DNSName)
			continue
		}
		s := b.service(p, &r.Services[i], inv.DNS.Zone, hyps, standbys)
		inv.Services = append(inv.Services, s)
		uniqueDNS(p, s.DNSName)
		where := s.Standby.Host + "/" + s.Standby.Container
		if other, dup := containers[where]; dup && s.Standby.Container != "" {
			b.add(p+".standby.container", "%s on %s is already the container of %s", s.Standby.Container, s.Standby.Host, other)
		}
		containers[where] = p
	}

	inv.Trapd = Trapd{
		ZabbixHost:  r.Trapd.ZabbixHost,
		SpoolMax:    deref(r.Trapd.SpoolMax, defaultTrapdSpoolMax),
		RejectRetry: b.duration("trapd.reject_retry", r.Trapd.RejectRetry, defaultTrapdRejectRetry),
	}
	if inv.Trapd.ZabbixHost == "" && len(inv.Standbys) > 0 {
		inv.Trapd.ZabbixHost = inv.Standbys[0].ZabbixHost
	}
	if inv.Trapd.SpoolMax < 1 {
		b.add("trapd.spool_max", "must be a positive number of bytes, got %d", inv.Trapd.SpoolMax)
	}
	inv.Sender = Sender{
		Interval:    b.duration("sender.interval", r.Sender.Interval, defaultSenderInterval),
		Concurrency: deref(r.Sender.Concurrency, defaultSenderConc),
	}
	if r.Sender.FreshWait != nil {
		inv.Sender.FreshWait = b.duration("sender.fresh_wait", r.Sender.FreshWait, 0)
	}
	if inv.Sender.Concurrency < 1 {
		b.add("sender.concurrency", "must be 1 or more, got %d", inv.Sender.Concurrency)
	}
	inv.Fence = Fence{
		PortTimeout:  b.duration("fence.port_timeout", r.Fence.PortTimeout, defaultFencePortTimeout),
		EvidenceWait: b.duration("fence.evidence_wait", r.Fence.EvidenceWait, defaultFenceEvidence),
	}
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	return inv, nil
}

type builder struct {
	base string
	errs Errors
}

func (b *builder) add(path, format string, args ...any) {
	b.errs = append(b.errs, FieldError{path, fmt.Sprintf(format, args...)})
}

// deref is the file's value, or def when the file leaves the field out.
func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// duration is the file's value or def; a value the file gives must be positive.
func (b *builder) duration(path string, d *time.Duration, def time.Duration) time.Duration {
	v := deref(d, def)
	if v <= 0 {
		b.add(path, "must be positive, got %s", v)
	}
	return v
}

// path makes a relative file name absolute against the inventory's folder.
func (b *builder) path(p string) string {
	if p != "" && !filepath.IsAbs(p) && b.base != "" {
		return filepath.Join(b.base, p)
	}
	return p
}

// names checks that every element of a list has a valid, unique name and returns the set.
func (b *builder) names(list string, n int, name func(int) string) map[string]bool {
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("%s[%d].name", list, i)
		nm := name(i)
		switch {
		case nm == "":
			b.add(p, "required")
		case !nameRE.MatchString(nm):
			b.add(p, "must be lower-case letters, digits, '.', '_' or '-' (at most 63), got %q", nm)
		case seen[nm]:
			b.add(p, "duplicate name %q", nm)
		}
		seen[nm] = true
	}
	return seen
}

// secretFile resolves a required or optional secret file and checks its permissions.
func (b *builder) secretFile(path, file string, required bool) string {
	if file == "" {
		if required {
			b.add(path, "required")
		}
		return ""
	}
	file = b.path(file)
	if err := secret.CheckFile(file); err != nil {
		b.add(path, "%v", err)
	}
	return file
}

// hostPort parses a host:port field, filling in the default port.
func (b *builder) hostPort(path, addr string, defPort uint16, required bool) HostPort {
	if addr == "" {
		if required {
			b.add(path, "required")
		}
		return HostPort{}
	}
	hp, msg := parseHostPortDefault(addr, defPort)
	if msg != "" {
		b.add(path, "%s", msg)
	}
	return hp
}

func (b *builder) zabbix(r *rawZabbix) Zabbix {
	z := Zabbix{
		Server:   b.hostPort("zabbix.server", r.Server, defaultZabbixPort, true),
		APIURL:   r.APIURL,
		Username: r.Username,
		Timeout:  b.duration("zabbix.timeout", r.Timeout, defaultZabbixTimeout),
		Prefix:   deref(r.Prefix, DefaultZabbixPrefix),
	}
	// One word, so that an object's first word names its inventory: prefix "a" can
	// never claim the objects of prefix "a-b" (vcr-provision -prune relies on it).
	if !nameRE.MatchString(z.Prefix) {
		b.add("zabbix.prefix", "must be lower-case letters, digits, '.', '_' or '-' (at most 63), got %q", z.Prefix)
	}
	if r.APIURL == "" {
		if r.APITokenFile != "" || r.Username != "" || r.PasswordFile != "" {
			b.add("zabbix.api_url", "required when API credentials are given")
		}
		return z
	}
	if u, err := url.Parse(r.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		b.add("zabbix.api_url", "must be an http or https URL, got %q", r.APIURL)
	}
	switch {
	case r.APITokenFile != "" && (r.Username != "" || r.PasswordFile != ""):
		b.add("zabbix", "give api_token_file, or username and password_file, not both")
	case r.APITokenFile != "":
		z.APITokenFile = b.secretFile("zabbix.api_token_file", r.APITokenFile, true)
	case r.Username != "" || r.PasswordFile != "":
		if r.Username == "" {
			b.add("zabbix.username", "required with password_file")
		}
		z.PasswordFile = b.secretFile("zabbix.password_file", r.PasswordFile, true)
	default:
		b.add("zabbix", "api_url needs api_token_file, or username and password_file")
	}
	return z
}

func (b *builder) snmp(r *rawSNMP) SNMP {
	s := SNMP{
		CommunitiesFile: b.secretFile("snmp.communities_file", r.CommunitiesFile, false),
		SnmptrapdLog:    b.path(r.SnmptrapdLog),
	}
	for i, a := range r.TrapListen {
		p := fmt.Sprintf("snmp.trap_listen[%d]", i)
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			b.add(p, "must be host:port (host may be empty for all addresses), got %q", a)
			continue
		}
		n, msg := parsePort(port)
		if msg != "" {
			b.add(p, "%s", msg)
			continue
		}
		ip := netip.IPv4Unspecified()
		if host != "" {
			if ip, err = netip.ParseAddr(host); err != nil || ip.Zone() != "" {
				b.add(p, "the host must be an IP address, or empty for all addresses, got %q", a)
				continue
			}
		}
		s.TrapListen = append(s.TrapListen, netip.AddrPortFrom(ip.Unmap(), n))
	}
	b.names("snmp.users", len(r.Users), func(i int) string { return r.Users[i].Name })
	for i, ru := range r.Users {
		p := fmt.Sprintf("snmp.users[%d]", i)
		u := V3User{Name: ru.Name}
		var ok bool
		if u.AuthProtocol, ok = authProtocols.parse(ru.AuthProtocol, true); !ok {
			b.add(p+".auth_protocol", "must be one of %s, got %q", authProtocols.list(), ru.AuthProtocol)
		}
		u.AuthPassphraseFile = b.secretFile(p+".auth_passphrase_file", ru.AuthPassphraseFile, true)
		if ru.PrivProtocol != "" {
			if u.PrivProtocol, ok = privProtocols.parse(ru.PrivProtocol, true); !ok {
				b.add(p+".priv_protocol", "must be one of %s, got %q", privProtocols.list(), ru.PrivProtocol)
			}
			u.PrivPassphraseFile = b.secretFile(p+".priv_passphrase_file", ru.PrivPassphraseFile, true)
		} else if ru.PrivPassphraseFile != "" {
			b.add(p+".priv_protocol", "required with priv_passphrase_file")
		}
		s.Users = append(s.Users, u)
	}
	return s
}

func (b *builder) dns(r *rawDNS, required bool) DNS {
	d := DNS{
		Server:  b.hostPort("dns.server", r.Server, defaultDNSPort, required),
		Timeout: b.duration("dns.timeout", r.Timeout, defaultDNSTimeout),
	}
	if r.Zone == "" {
		if required {
			b.add("dns.zone", "required")
		}
	} else if _, ok := dns.IsDomainName(r.Zone); !ok || strings.Contains(r.Zone, " ") {
		b.add("dns.zone", "must be a domain name, got %q", r.Zone)
	} else {
		d.Zone = dns.CanonicalName(r.Zone)
	}
	if r.TSIGKeyFile == "" {
		if required {
			b.add("dns.tsig_key_file", "required")
		}
	} else {
		d.TSIGKeyFile, d.TSIGKey = b.tsigKey("dns.tsig_key_file", r.TSIGKeyFile)
	}
	ttl := deref(r.TTL, DefaultDNSTTL)
	if ttl < 1 || ttl > 86400 {
		b.add("dns.ttl", "must be 1-86400 seconds, got %d", ttl)
	} else {
		d.TTL = uint32(ttl)
	}
	return d
}

// tsigKey reads a TSIG key file once, at load, like every secret: a key the server
// would refuse shows in -check rather than at the DNS switch.
func (b *builder) tsigKey(path, file string) (string, dnsupdate.Key) {
	file = b.path(file)
	key, err := dnsupdate.ReadKeyFile(file)
	if err != nil {
		b.add(path, "%v", err)
	}
	return file, key
}

// serviceKey is a service's own TSIG key, if it names one (else the zero Key: the
// shared dns.tsig_key_file signs its updates).
func (b *builder) serviceKey(p, file string) (string, dnsupdate.Key) {
	if file == "" {
		return "", dnsupdate.Key{}
	}
	return b.tsigKey(p+".tsig_key_file", file)
}

func (b *builder) hypervisor(p string, r *rawHypervisor, users []V3User) Hypervisor {
	h := Hypervisor{
		Name:       r.Name,
		ZabbixHost: r.ZabbixHost,
		Address:    b.hostPort(p+".address", r.Address, defaultSNMPPort, true),
		Timeout:    b.duration(p+".timeout", r.Timeout, defaultSNMPTimeout),
		Retries:    r.Retries,
	}
	if h.ZabbixHost == "" {
		h.ZabbixHost = h.Name
	}
	version := r.Version
	if version == "" {
		version = SNMPv2c.String()
	}
	h.Version, _ = snmpVersions.parse(version, false)
	switch h.Version {
	case SNMPv2c:
		h.CommunityFile = b.secretFile(p+".community_file", r.CommunityFile, true)
		if r.User != "" {
			b.add(p+".user", "only with version 3")
		}
	case SNMPv3:
		if r.User == "" {
			b.add(p+".user", "required with version 3")
			break
		}
		for i := range users {
			if users[i].Name == r.User {
				h.User = &users[i]
			}
		}
		if h.User == nil {
			b.add(p+".user", "no snmp.users entry named %q", r.User)
		}
	default:
		b.add(p+".version", `must be "2c" or "3", got %q`, r.Version)
	}
	if h.Retries < 0 || h.Retries > 10 {
		b.add(p+".retries", "must be 0-10, got %d", h.Retries)
	}
	return h
}

func (b *builder) standby(p string, r *rawStandby) Standby {
	s := Standby{
		Name:             r.Name,
		URL:              r.URL,
		ZabbixHost:       r.ZabbixHost,
		ZabbixAgent:      b.hostPort(p+".zabbix_agent", r.ZabbixAgent, defaultAgentPort, false),
		Capacity:         r.Capacity,
		Network:          r.Network,
		MaxCPUPercent:    r.MaxCPUPercent,
		MaxMemoryPercent: r.MaxMemoryPercent,
		ClientCertFile:   b.path(r.ClientCertFile),
		ServerCertFile:   b.path(r.ServerCertFile),
		Weight:           b.weight(p+".weight", r.Weight),
	}
	if s.ZabbixHost == "" {
		s.ZabbixHost = s.Name
	}
	if s.Capacity < 0 {
		b.add(p+".capacity", "must be 0 (no limit) or more, got %d", s.Capacity)
	}
	if s.Network != "" && !nameRE.MatchString(s.Network) {
		b.add(p+".network", "must be an LXD network name (lower-case letters, digits, . _ -), got %q", s.Network)
	}
	for _, m := range []struct {
		key string
		val float64
	}{{"max_cpu_percent", s.MaxCPUPercent}, {"max_memory_percent", s.MaxMemoryPercent}} {
		if m.val < 0 || m.val > 100 {
			b.add(p+"."+m.key, "must be 0 (not checked) to 100, got %g", m.val)
		}
	}
	u, err := url.Parse(r.URL)
	switch {
	case r.URL == "":
		b.add(p+".url", "required")
	case err != nil:
		b.add(p+".url", "must be unix:///path or https://host:port, got %q", r.URL)
	case u.Scheme == "unix":
		if !filepath.IsAbs(u.Path) {
			b.add(p+".url", "a unix URL needs an absolute socket path, got %q", r.URL)
		}
	case u.Scheme == "https":
		if u.Host == "" {
			b.add(p+".url", "an https URL needs host:port, got %q", r.URL)
		}
		if r.ClientCertFile == "" {
			b.add(p+".client_cert_file", "required with an https url")
		}
		s.ClientKeyFile = b.secretFile(p+".client_key_file", r.ClientKeyFile, true)
	default:
		b.add(p+".url", "must be unix:///path or https://host:port, got %q", r.URL)
	}
	if s.ClientKeyFile == "" {
		s.ClientKeyFile = b.path(r.ClientKeyFile)
	}
	return s
}

func (b *builder) service(p string, r *rawService, zone string, hyps, standbys map[string]bool) Service {
	s := Service{
		Name:       r.Name,
		Hypervisor: r.Hypervisor,
		ZabbixHost: r.ZabbixHost,
		DNSName:    b.dnsName(p+".dns_name", r.DNSName, zone),
		Probe:      b.probe(p+".probe", &r.Probe),
		FastPath:   r.FastPath,
	}
	s.TSIGKeyFile, s.TSIGKey = b.serviceKey(p, r.TSIGKeyFile)
	s.Hooks, s.TestHooks = b.hooks(p+".hooks", r.Hooks, true)
	if s.ZabbixHost == "" {
		s.ZabbixHost = s.Name
	}
	if r.Hypervisor == "" {
		b.add(p+".hypervisor", "required")
	} else if !hyps[r.Hypervisor] {
		b.add(p+".hypervisor", "no hypervisors entry named %q", r.Hypervisor)
	}
	if u, err := libvirtmib.ParseUUID(r.VMUUID); err != nil || !uuidRE.MatchString(r.VMUUID) {
		b.add(p+".vm_uuid", "must be a UUID like 6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01, got %q", r.VMUUID)
	} else {
		s.VMUUID = u
	}
	if a, err := netip.ParseAddr(r.PrimaryAddress); err != nil || !a.Is4() {
		b.add(p+".primary_address", "must be an IPv4 address, got %q", r.PrimaryAddress)
	} else {
		s.PrimaryAddress = a
	}

	rs := &r.Standby
	s.Standby = ServiceStandby{Host: rs.Host, Container: rs.Container}
	if s.Standby.Container == "" {
		s.Standby.Container = s.Name
	}
	if rs.Host == "" {
		b.add(p+".standby.host", "required")
	} else if !standbys[rs.Host] {
		b.add(p+".standby.host", "no standbys entry named %q", rs.Host)
	}
	if !containerRE.MatchString(s.Standby.Container) {
		b.add(p+".standby.container", "must be an LXD instance name (letters, digits, '-', starting with a letter, at most 63), got %q", s.Standby.Container)
	}
	s.Standby.Mode, _ = standbyModes.parse(rs.Mode, false)
	switch s.Standby.Mode {
	case ModeWarm:
		if rs.Backup.Kind != "" {
			s.Standby.Backup = b.backup(p+".standby.backup", rs.Backup)
		}
	case ModeCold:
		s.Standby.Backup = b.backup(p+".standby.backup", rs.Backup)
	default:
		b.add(p+".standby.mode", "must be warm or cold, got %q", rs.Mode)
	}
	if r.Sync != nil {
		s.Sync = b.sync(p+".sync", r.Sync)
	}
	s.Failback = Failback{
		Quiesce:     b.step(p+".failback.quiesce", "quiesce", r.Failback.Quiesce),
		ReverseSync: b.step(p+".failback.reverse_sync", "reverse-sync", r.Failback.ReverseSync),
		Verify:      b.step(p+".failback.verify", "verify", r.Failback.Verify),
	}
	if s.Standby.Backup.MaxAge > 0 && s.Standby.Mode != ModeCold {
		b.add(p+".standby.backup.max_age", "only a cold standby's backup is watched, this standby is %s", s.Standby.Mode)
	}
	return s
}

// dnsName checks a service's DNS name and returns it canonical, inside zone.
func (b *builder) dnsName(p, name, zone string) string {
	switch _, ok := dns.IsDomainName(name); {
	case name == "":
		b.add(p, "required")
	case !ok || strings.Contains(name, " "):
		b.add(p, "must be a domain name, got %q", name)
	default:
		c := dns.CanonicalName(name)
		if zone != "" && !dns.IsSubDomain(zone, c) {
			b.add(p, "%s is not in dns.zone %s", c, zone)
		}
		return c
	}
	return ""
}

// probe checks a service's probe settings.
func (b *builder) probe(p string, r *rawProbe) Probe {
	pr := Probe{Ports: r.Ports, Send: r.Send, Expect: r.Expect,
		Timeout: b.duration(p+".timeout", r.Timeout, defaultProbeTimeout)}
	if len(r.Ports) == 0 {
		b.add(p+".ports", "at least one port is required")
	}
	for j, port := range r.Ports {
		if port < 1 || port > 65535 {
			b.add(fmt.Sprintf("%s.ports[%d]", p, j), "must be 1-65535, got %d", port)
		}
	}
	return pr
}

// hooks checks a service's hooks (p is the list's path) and splits them by phase:
// run (phase recover, the default: every start of the container in a recovery or a
// drill) and test (only in a drill). drill says whether the service has drills.
func (b *builder) hooks(p string, rs []rawHook, drill bool) (run, test []Hook) {
	for j, rh := range rs {
		hp := fmt.Sprintf("%s[%d]", p, j)
		if rh.Name == "" {
			b.add(hp+".name", "required")
		}
		if len(rh.Command) == 0 || rh.Command[0] == "" {
			b.add(hp+".command", "required: the program and its arguments as a list")
		}
		h := Hook{Name: rh.Name, Command: rh.Command, Timeout: b.duration(hp+".timeout", rh.Timeout, defaultHookTimeout)}
		switch {
		case rh.Phase == "" || rh.Phase == PhaseRecover:
			run = append(run, h)
		case rh.Phase == PhaseTest && drill:
			test = append(test, h)
		case rh.Phase == PhaseTest:
			b.add(hp+".phase", "test hooks run in drills (vcr-recover -test), which a pooled service has none of")
		default:
			b.add(hp+".phase", "must be %s or %s, got %q", PhaseRecover, PhaseTest, rh.Phase)
		}
	}
	return run, test
}

func (b *builder) sync(p string, r *rawSync) *Sync {
	s := &Sync{Command: r.Command, LagCommand: r.LagCommand,
		Period:  b.duration(p+".period", r.Period, defaultSyncPeriod),
		Timeout: b.duration(p+".timeout", r.Timeout, defaultSyncTimeout)}
	s.MaxAge = b.duration(p+".max_age", r.MaxAge, defaultSyncMaxAgeFactor*s.Period)
	switch cmd, lag := len(r.Command) > 0, len(r.LagCommand) > 0; {
	case cmd == lag:
		b.add(p, "needs exactly one of command and lag_command")
	case cmd && r.Command[0] == "":
		b.add(p+".command", "required: the program and its arguments as a list")
	case lag && r.LagCommand[0] == "":
		b.add(p+".lag_command", "required: the program and its arguments as a list")
	}
	if r.Timeout == nil && s.Timeout > s.Period {
		s.Timeout = s.Period
	}
	if s.Timeout > s.Period {
		b.add(p+".timeout", "must not exceed the period %s, got %s", s.Period, s.Timeout)
	}
	return s
}

// step builds one failback hook (nil when the file leaves it out).
func (b *builder) step(p, name string, r *rawStep) *Hook {
	if r == nil {
		return nil
	}
	if len(r.Command) == 0 || r.Command[0] == "" {
		b.add(p+".command", "required: the program and its arguments as a list")
	}
	return &Hook{Name: name, Command: r.Command, Timeout: b.duration(p+".timeout", r.Timeout, defaultHookTimeout)}
}

func (b *builder) backup(p string, r rawBackup) Backup {
	k, ok := backupKinds.parse(r.Kind, false)
	switch {
	case !ok:
		b.add(p+".kind", "must be image, backup or snapshot, got %q", r.Kind)
	case k == BackupTarball && r.Source != "" && !filepath.IsAbs(r.Source):
		b.add(p+".source", "a backup tarball needs an absolute path, got %q", r.Source)
	}
	if r.Source == "" {
		b.add(p+".source", "required")
	}
	bk := Backup{Kind: k, Source: r.Source}
	if r.MaxAge != nil {
		bk.MaxAge = b.duration(p+".max_age", r.MaxAge, 0)
	}
	return bk
}
