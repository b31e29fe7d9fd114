// Package config loads the one inventory file that every vcrcovery binary reads: Zabbix,
// SNMP, DNS, standby LXD servers, hypervisors and the protected services (see
// shared/DESIGN.md, "One inventory file").
//
// Loading is strict: unknown keys are errors, defaults are set before decoding, and one
// Validate pass after decoding reports every problem at once, each prefixed with the path
// of the field (services[1].probe.ports[0]: must be 1-65535, got 0), so that an operator
// fixes a broken inventory in one round instead of one error per run.
package config

import (
	"time"
)

// DefaultPath is where the binaries look for the inventory without -config.
const DefaultPath = "/etc/vcrcovery/vcrcovery.yaml"

// Inventory is the whole configuration file.
type Inventory struct {
	// StateDir holds locks, spools and sample state (default /var/lib/vcrcovery).
	StateDir    string       `yaml:"state_dir"`
	Zabbix      Zabbix       `yaml:"zabbix"`
	SNMP        SNMP         `yaml:"snmp"`
	DNS         DNS          `yaml:"dns"`
	Hypervisors []Hypervisor `yaml:"hypervisors"`
	Standbys    []Standby    `yaml:"standbys"`
	Services    []Service    `yaml:"services"`
}

// Zabbix says where the Zabbix server's trapper and API are and how to log in to the API:
// with an API token (api_token_file) or with username and password_file.
type Zabbix struct {
	// Server is the trapper address, host:port (port default 10051).
	Server string `yaml:"server"`
	// APIURL is the JSON-RPC endpoint, e.g. https://zabbix.example/api_jsonrpc.php.
	APIURL       string `yaml:"api_url"`
	APITokenFile string `yaml:"api_token_file"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	// Timeout bounds one request to the trapper or the API (default 5s).
	Timeout time.Duration `yaml:"timeout"`
}

// SNMP configures trap intake (trapd) and the SNMPv3 users that hypervisors refer to.
type SNMP struct {
	// TrapListen lists UDP addresses trapd listens on (host:port; IPv6 as [::1]:162).
	TrapListen []string `yaml:"trap_listen"`
	// CommunitiesFile is the allow-list of SNMPv2c trap communities, one per line.
	CommunitiesFile string `yaml:"communities_file"`
	// Users are SNMPv3 USM users, accepted on traps and usable by hypervisors.
	Users []V3User `yaml:"users"`
	// SnmptrapdLog is the snmptrapd log file that trapd follows in follow mode.
	SnmptrapdLog string `yaml:"snmptrapd_log"`
}

// V3User is an SNMPv3 USM user (RFC 3414). With priv_protocol set the user is authPriv,
// else authNoPriv.
type V3User struct {
	Name string `yaml:"name"`
	// AuthProtocol is one of MD5, SHA, SHA224, SHA256, SHA384, SHA512.
	AuthProtocol       string `yaml:"auth_protocol"`
	AuthPassphraseFile string `yaml:"auth_passphrase_file"`
	// PrivProtocol is empty or one of DES, AES, AES192, AES256, AES192C, AES256C.
	PrivProtocol       string `yaml:"priv_protocol"`
	PrivPassphraseFile string `yaml:"priv_passphrase_file"`
}

// Hypervisor is a KVM host whose libvirt-snmp agent serves LIBVIRT-MIB.
type Hypervisor struct {
	Name string `yaml:"name"`
	// ZabbixHost is the Zabbix host that holds this hypervisor's guest items.
	ZabbixHost string `yaml:"zabbix_host"`
	// Address of the SNMP agent, host:port (port default 161).
	Address string `yaml:"address"`
	// Version is "2c" (default) or "3".
	Version string `yaml:"version"`
	// CommunityFile holds the v2c community (version 2c).
	CommunityFile string `yaml:"community_file"`
	// User names an snmp.users entry (version 3).
	User    string        `yaml:"user"`
	Timeout time.Duration `yaml:"timeout"` // per request, default 2s
	Retries int           `yaml:"retries"` // default 1
}

// DNS is the authoritative server that takes TSIG-signed updates (RFC 2136, RFC 3007).
type DNS struct {
	// Server is host:port (port default 53).
	Server string `yaml:"server"`
	// Zone is the zone that holds the services' names, e.g. example.com.
	Zone string `yaml:"zone"`
	// TSIGKeyFile is a key file in the format tsig-keygen writes.
	TSIGKeyFile string `yaml:"tsig_key_file"`
	// TTL of the A records written, in seconds (default 5): short, so clients follow a switch.
	TTL     int           `yaml:"ttl"`
	Timeout time.Duration `yaml:"timeout"` // default 2s
}

// Standby is an LXD server that holds standby containers: the standby VM or a bigger one.
type Standby struct {
	Name string `yaml:"name"`
	// URL is unix:///path/to/unix.socket or https://host:port.
	URL string `yaml:"url"`
	// ZabbixHost is the standby VM's host in Zabbix (where recover reports).
	ZabbixHost string `yaml:"zabbix_host"`
	// ZabbixAgent is the host:port of the standby VM's Zabbix agent, which runs the
	// recover command of the Zabbix action (port default 10050; default address: the
	// zabbix_host name).
	ZabbixAgent string `yaml:"zabbix_agent"`
	// Capacity is how many running containers it takes before migrate moves some away.
	Capacity int `yaml:"capacity"`
	// Network is the LXD network its containers use: a container migrated here whose own
	// NIC device names a network this server lacks is attached to this one instead.
	Network string `yaml:"network"`
	// MaxCPUPercent and MaxMemoryPercent are the load above which vcr-migrate -auto
	// moves containers away (0: that measure is not checked).
	MaxCPUPercent    float64 `yaml:"max_cpu_percent"`
	MaxMemoryPercent float64 `yaml:"max_memory_percent"`
	// ClientCertFile, ClientKeyFile and ServerCertFile authenticate an https URL.
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
	ServerCertFile string `yaml:"server_cert_file"`
}

// Service is one protected service: its primary VM and its standby container.
type Service struct {
	Name string `yaml:"name"`
	// Hypervisor names the hypervisors entry whose agent reports the primary VM.
	Hypervisor string `yaml:"hypervisor"`
	// VMUUID is the primary VM's libvirt UUID (as in libvirtGuestUUID).
	VMUUID string `yaml:"vm_uuid"`
	// ZabbixHost is the primary VM's host in Zabbix.
	ZabbixHost string `yaml:"zabbix_host"`
	// DNSName is the name clients use; it must lie in dns.zone.
	DNSName string `yaml:"dns_name"`
	// PrimaryAddress is the primary VM's IPv4 address, the A record while it serves.
	PrimaryAddress string         `yaml:"primary_address"`
	Probe          Probe          `yaml:"probe"`
	Standby        ServiceStandby `yaml:"standby"`
	Hooks          []Hook         `yaml:"hooks"`
	// FastPath lets trapd start recovery through the Zabbix API at once.
	FastPath bool `yaml:"fast_path"`
}

// Probe says how to tell that the service answers.
type Probe struct {
	Ports []int `yaml:"ports"`
	// Send is written after connecting to the first port; Expect must then be read.
	Send   string `yaml:"send"`
	Expect string `yaml:"expect"`
	// Timeout is the whole probe deadline (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}

// ServiceStandby places the service's standby container.
type ServiceStandby struct {
	// Host names a standbys entry.
	Host string `yaml:"host"`
	// Mode is warm (the container runs already) or cold (started from Backup on demand).
	Mode string `yaml:"mode"`
	// Container is the LXD instance name (default: the service name).
	Container string `yaml:"container"`
	Backup    Backup `yaml:"backup"`
}

// Backup is where a cold standby container comes from.
type Backup struct {
	// Kind is image (an image alias or fingerprint), backup (an LXD backup tarball) or
	// snapshot (a snapshot of the container, "container/snap" or just "snap").
	Kind   string `yaml:"kind"`
	Source string `yaml:"source"`
}

// Hook is a command run inside the container after it starts (e.g. promote a replica).
type Hook struct {
	Name    string        `yaml:"name"`
	Command []string      `yaml:"command"`
	Timeout time.Duration `yaml:"timeout"` // default 30s
}

// Service modes and backup kinds.
const (
	ModeWarm = "warm"
	ModeCold = "cold"

	BackupImage    = "image"
	BackupTarball  = "backup"
	BackupSnapshot = "snapshot"
)

// setDefaults fills fields that the file may leave out. It runs before decoding, so the
// file's values win; list elements get theirs in applyListDefaults after decoding.
func (inv *Inventory) setDefaults() {
	inv.StateDir = "/var/lib/vcrcovery"
	inv.Zabbix.Timeout = 5 * time.Second
	inv.DNS.TTL = 5
	inv.DNS.Timeout = 2 * time.Second
}

// applyListDefaults sets defaults on list elements, which do not exist before decoding.
// Only zero values are replaced, so a value the file gives is kept.
func (inv *Inventory) applyListDefaults() {
	for i := range inv.Hypervisors {
		h := &inv.Hypervisors[i]
		if h.Version == "" {
			h.Version = "2c"
		}
		if h.Timeout == 0 {
			h.Timeout = 2 * time.Second
		}
		if h.ZabbixHost == "" {
			h.ZabbixHost = h.Name
		}
	}
	for i := range inv.Standbys {
		s := &inv.Standbys[i]
		if s.ZabbixHost == "" {
			s.ZabbixHost = s.Name
		}
	}
	for i := range inv.Services {
		s := &inv.Services[i]
		if s.Probe.Timeout == 0 {
			s.Probe.Timeout = 10 * time.Second
		}
		if s.Standby.Container == "" {
			s.Standby.Container = s.Name
		}
		if s.ZabbixHost == "" {
			s.ZabbixHost = s.Name
		}
		for j := range s.Hooks {
			if s.Hooks[j].Timeout == 0 {
				s.Hooks[j].Timeout = 30 * time.Second
			}
		}
	}
}

// Service returns the service named name.
func (inv *Inventory) Service(name string) (*Service, bool) {
	for i := range inv.Services {
		if inv.Services[i].Name == name {
			return &inv.Services[i], true
		}
	}
	return nil, false
}

// ServiceForVM returns the service whose primary VM has the (lower-case) UUID.
func (inv *Inventory) ServiceForVM(uuid string) (*Service, bool) {
	for i := range inv.Services {
		if inv.Services[i].VMUUID == uuid {
			return &inv.Services[i], true
		}
	}
	return nil, false
}

// Standby returns the standby server named name.
func (inv *Inventory) Standby(name string) (*Standby, bool) {
	for i := range inv.Standbys {
		if inv.Standbys[i].Name == name {
			return &inv.Standbys[i], true
		}
	}
	return nil, false
}

// Hypervisor returns the hypervisor named name.
func (inv *Inventory) Hypervisor(name string) (*Hypervisor, bool) {
	for i := range inv.Hypervisors {
		if inv.Hypervisors[i].Name == name {
			return &inv.Hypervisors[i], true
		}
	}
	return nil, false
}
