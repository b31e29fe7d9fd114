package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/secret"
)

// nameRE is the shape of service, hypervisor, standby and user names. It is strict on
// purpose: recover takes the service name from a Zabbix macro on its command line, and a
// name that can hold no shell or path characters cannot be turned into an injection.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$`)

// containerRE is LXD's instance name rule: letters, digits and hyphens, not starting with
// a digit or hyphen, not ending with a hyphen, at most 63 characters.
var containerRE = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

var (
	authProtocols = []string{"MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"}
	privProtocols = []string{"DES", "AES", "AES192", "AES256", "AES192C", "AES256C"}
)

// Validate checks the whole inventory and returns every problem found, each naming its
// field path. Secret files are checked for existence and permissions here, so -check
// catches a key that would be refused at 3 a.m.
func (inv *Inventory) Validate() Errors {
	v := &validator{}
	if inv.StateDir == "" || !filepath.IsAbs(inv.StateDir) {
		v.add("state_dir", "must be an absolute path, got %q", inv.StateDir)
	}
	v.zabbix(&inv.Zabbix)
	v.snmp(&inv.SNMP)
	v.dns(&inv.DNS, len(inv.Services) > 0)

	users := map[string]bool{}
	for _, u := range inv.SNMP.Users {
		users[u.Name] = true
	}
	hyps := v.names("hypervisors", len(inv.Hypervisors), func(i int) string { return inv.Hypervisors[i].Name })
	for i := range inv.Hypervisors {
		v.hypervisor(fmt.Sprintf("hypervisors[%d]", i), &inv.Hypervisors[i], users)
	}
	standbys := v.names("standbys", len(inv.Standbys), func(i int) string { return inv.Standbys[i].Name })
	for i := range inv.Standbys {
		v.standby(fmt.Sprintf("standbys[%d]", i), &inv.Standbys[i])
	}
	v.names("services", len(inv.Services), func(i int) string { return inv.Services[i].Name })
	dnsNames := map[string]string{}
	containers := map[string]string{}
	for i := range inv.Services {
		p := fmt.Sprintf("services[%d]", i)
		s := &inv.Services[i]
		v.service(p, s, inv.DNS.Zone, hyps, standbys)
		if s.DNSName != "" {
			n := dns.CanonicalName(s.DNSName)
			if other, dup := dnsNames[n]; dup {
				v.add(p+".dns_name", "%s is already the name of %s", s.DNSName, other)
			}
			dnsNames[n] = p
		}
		where := s.Standby.Host + "/" + s.Standby.Container
		if other, dup := containers[where]; dup && s.Standby.Container != "" {
			v.add(p+".standby.container", "%s on %s is already the container of %s", s.Standby.Container, s.Standby.Host, other)
		}
		containers[where] = p
	}
	return v.errs
}

type validator struct{ errs Errors }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{path, fmt.Sprintf(format, args...)})
}

// names checks that every element of a list has a valid, unique name and returns the set.
func (v *validator) names(list string, n int, name func(int) string) map[string]bool {
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("%s[%d].name", list, i)
		nm := name(i)
		switch {
		case nm == "":
			v.add(p, "required")
		case !nameRE.MatchString(nm):
			v.add(p, "must be lower-case letters, digits, '.', '_' or '-' (at most 63), got %q", nm)
		case seen[nm]:
			v.add(p, "duplicate name %q", nm)
		}
		seen[nm] = true
	}
	return seen
}

// secretFile checks a required or optional secret file.
func (v *validator) secretFile(path, file string, required bool) {
	if file == "" {
		if required {
			v.add(path, "required")
		}
		return
	}
	if err := secret.CheckFile(file); err != nil {
		v.add(path, "%v", err)
	}
}

// hostPort checks host:port and fills in the default port when the port is left out.
func (v *validator) hostPort(path string, addr *string, defPort int, required bool) {
	if *addr == "" {
		if required {
			v.add(path, "required")
		}
		return
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		// No port: "zabbix.example" or a bare IPv6 address.
		host, port = strings.Trim(*addr, "[]"), strconv.Itoa(defPort)
	}
	if host == "" || strings.ContainsAny(host, " /") {
		v.add(path, "must be host:port, got %q", *addr)
		return
	}
	if !v.port(path, port) {
		return
	}
	*addr = net.JoinHostPort(host, port)
}

func (v *validator) port(path, port string) bool {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		v.add(path, "port must be 1-65535, got %q", port)
		return false
	}
	return true
}

func (v *validator) positive(path string, d fmt.Stringer, ok bool) {
	if !ok {
		v.add(path, "must be positive, got %s", d)
	}
}

func oneOf(s string, set []string) bool {
	for _, x := range set {
		if strings.EqualFold(s, x) {
			return true
		}
	}
	return false
}

func (v *validator) zabbix(z *Zabbix) {
	v.hostPort("zabbix.server", &z.Server, 10051, true)
	v.positive("zabbix.timeout", z.Timeout, z.Timeout > 0)
	if z.APIURL == "" {
		if z.APITokenFile != "" || z.Username != "" || z.PasswordFile != "" {
			v.add("zabbix.api_url", "required when API credentials are given")
		}
		return
	}
	if u, err := url.Parse(z.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add("zabbix.api_url", "must be an http or https URL, got %q", z.APIURL)
	}
	switch {
	case z.APITokenFile != "" && (z.Username != "" || z.PasswordFile != ""):
		v.add("zabbix", "give api_token_file, or username and password_file, not both")
	case z.APITokenFile != "":
		v.secretFile("zabbix.api_token_file", z.APITokenFile, true)
	case z.Username != "" || z.PasswordFile != "":
		if z.Username == "" {
			v.add("zabbix.username", "required with password_file")
		}
		v.secretFile("zabbix.password_file", z.PasswordFile, true)
	default:
		v.add("zabbix", "api_url needs api_token_file, or username and password_file")
	}
}

func (v *validator) snmp(s *SNMP) {
	for i := range s.TrapListen {
		p := fmt.Sprintf("snmp.trap_listen[%d]", i)
		if _, port, err := net.SplitHostPort(s.TrapListen[i]); err != nil {
			v.add(p, "must be host:port (host may be empty for all addresses), got %q", s.TrapListen[i])
		} else {
			v.port(p, port)
		}
	}
	v.secretFile("snmp.communities_file", s.CommunitiesFile, false)
	v.names("snmp.users", len(s.Users), func(i int) string { return s.Users[i].Name })
	for i, u := range s.Users {
		p := fmt.Sprintf("snmp.users[%d]", i)
		if !oneOf(u.AuthProtocol, authProtocols) {
			v.add(p+".auth_protocol", "must be one of %s, got %q", strings.Join(authProtocols, ", "), u.AuthProtocol)
		}
		v.secretFile(p+".auth_passphrase_file", u.AuthPassphraseFile, true)
		if u.PrivProtocol != "" {
			if !oneOf(u.PrivProtocol, privProtocols) {
				v.add(p+".priv_protocol", "must be one of %s, got %q", strings.Join(privProtocols, ", "), u.PrivProtocol)
			}
			v.secretFile(p+".priv_passphrase_file", u.PrivPassphraseFile, true)
		} else if u.PrivPassphraseFile != "" {
			v.add(p+".priv_protocol", "required with priv_passphrase_file")
		}
	}
}

func (v *validator) dns(d *DNS, required bool) {
	v.hostPort("dns.server", &d.Server, 53, required)
	if d.Zone == "" {
		if required {
			v.add("dns.zone", "required")
		}
	} else if _, ok := dns.IsDomainName(d.Zone); !ok || strings.Contains(d.Zone, " ") {
		v.add("dns.zone", "must be a domain name, got %q", d.Zone)
	} else {
		d.Zone = dns.CanonicalName(d.Zone)
	}
	if d.TSIGKeyFile == "" {
		if required {
			v.add("dns.tsig_key_file", "required")
		}
	} else if _, err := dnsupdate.ReadKeyFile(d.TSIGKeyFile); err != nil {
		v.add("dns.tsig_key_file", "%v", err)
	}
	if d.TTL < 1 || d.TTL > 86400 {
		v.add("dns.ttl", "must be 1-86400 seconds, got %d", d.TTL)
	}
	v.positive("dns.timeout", d.Timeout, d.Timeout > 0)
}

func (v *validator) hypervisor(p string, h *Hypervisor, users map[string]bool) {
	v.hostPort(p+".address", &h.Address, 161, true)
	switch h.Version {
	case "2c":
		v.secretFile(p+".community_file", h.CommunityFile, true)
		if h.User != "" {
			v.add(p+".user", "only with version 3")
		}
	case "3":
		if h.User == "" {
			v.add(p+".user", "required with version 3")
		} else if !users[h.User] {
			v.add(p+".user", "no snmp.users entry named %q", h.User)
		}
	default:
		v.add(p+".version", `must be "2c" or "3", got %q`, h.Version)
	}
	v.positive(p+".timeout", h.Timeout, h.Timeout > 0)
	if h.Retries < 0 || h.Retries > 10 {
		v.add(p+".retries", "must be 0-10, got %d", h.Retries)
	}
}

func (v *validator) standby(p string, s *Standby) {
	v.hostPort(p+".zabbix_agent", &s.ZabbixAgent, 10050, false)
	if s.Capacity < 0 {
		v.add(p+".capacity", "must be 0 (no limit) or more, got %d", s.Capacity)
	}
	if s.Network != "" && !nameRE.MatchString(s.Network) {
		v.add(p+".network", "must be an LXD network name (lower-case letters, digits, . _ -), got %q", s.Network)
	}
	for _, m := range []struct {
		key string
		val float64
	}{{"max_cpu_percent", s.MaxCPUPercent}, {"max_memory_percent", s.MaxMemoryPercent}} {
		if m.val < 0 || m.val > 100 {
			v.add(p+"."+m.key, "must be 0 (not checked) to 100, got %g", m.val)
		}
	}
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		v.add(p+".url", "required")
	case err != nil:
		v.add(p+".url", "must be unix:///path or https://host:port, got %q", s.URL)
	case u.Scheme == "unix":
		if !filepath.IsAbs(u.Path) {
			v.add(p+".url", "a unix URL needs an absolute socket path, got %q", s.URL)
		}
	case u.Scheme == "https":
		if u.Host == "" {
			v.add(p+".url", "an https URL needs host:port, got %q", s.URL)
		}
		if s.ClientCertFile == "" {
			v.add(p+".client_cert_file", "required with an https url")
		}
		v.secretFile(p+".client_key_file", s.ClientKeyFile, true)
	default:
		v.add(p+".url", "must be unix:///path or https://host:port, got %q", s.URL)
	}
}

func (v *validator) service(p string, s *Service, zone string, hyps, standbys map[string]bool) {
	if s.Hypervisor == "" {
		v.add(p+".hypervisor", "required")
	} else if !hyps[s.Hypervisor] {
		v.add(p+".hypervisor", "no hypervisors entry named %q", s.Hypervisor)
	}
	if !uuidRE.MatchString(s.VMUUID) {
		v.add(p+".vm_uuid", "must be a UUID like 6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01, got %q", s.VMUUID)
	} else {
		s.VMUUID = strings.ToLower(s.VMUUID)
	}
	switch _, ok := dns.IsDomainName(s.DNSName); {
	case s.DNSName == "":
		v.add(p+".dns_name", "required")
	case !ok || strings.Contains(s.DNSName, " "):
		v.add(p+".dns_name", "must be a domain name, got %q", s.DNSName)
	default:
		s.DNSName = dns.CanonicalName(s.DNSName)
		if zone != "" && !dns.IsSubDomain(zone, s.DNSName) {
			v.add(p+".dns_name", "%s is not in dns.zone %s", s.DNSName, zone)
		}
	}
	if a, err := netip.ParseAddr(s.PrimaryAddress); err != nil || !a.Is4() {
		v.add(p+".primary_address", "must be an IPv4 address, got %q", s.PrimaryAddress)
	}
	if len(s.Probe.Ports) == 0 {
		v.add(p+".probe.ports", "at least one port is required")
	}
	for j, port := range s.Probe.Ports {
		if port < 1 || port > 65535 {
			v.add(fmt.Sprintf("%s.probe.ports[%d]", p, j), "must be 1-65535, got %d", port)
		}
	}
	v.positive(p+".probe.timeout", s.Probe.Timeout, s.Probe.Timeout > 0)

	sb := &s.Standby
	if sb.Host == "" {
		v.add(p+".standby.host", "required")
	} else if !standbys[sb.Host] {
		v.add(p+".standby.host", "no standbys entry named %q", sb.Host)
	}
	if !containerRE.MatchString(sb.Container) {
		v.add(p+".standby.container", "must be an LXD instance name (letters, digits, '-', starting with a letter, at most 63), got %q", sb.Container)
	}
	switch sb.Mode {
	case ModeWarm:
		if sb.Backup.Kind != "" {
			v.backup(p+".standby.backup", sb.Backup)
		}
	case ModeCold:
		v.backup(p+".standby.backup", sb.Backup)
	default:
		v.add(p+".standby.mode", "must be warm or cold, got %q", sb.Mode)
	}
	for j, h := range s.Hooks {
		hp := fmt.Sprintf("%s.hooks[%d]", p, j)
		if h.Name == "" {
			v.add(hp+".name", "required")
		}
		if len(h.Command) == 0 || h.Command[0] == "" {
			v.add(hp+".command", "required: the program and its arguments as a list")
		}
		v.positive(hp+".timeout", h.Timeout, h.Timeout > 0)
	}
}

func (v *validator) backup(p string, b Backup) {
	switch b.Kind {
	case BackupImage, BackupSnapshot:
	case BackupTarball:
		if b.Source != "" && !filepath.IsAbs(b.Source) {
			v.add(p+".source", "a backup tarball needs an absolute path, got %q", b.Source)
		}
	default:
		v.add(p+".kind", "must be image, backup or snapshot, got %q", b.Kind)
	}
	if b.Source == "" {
		v.add(p+".source", "required")
	}
}
