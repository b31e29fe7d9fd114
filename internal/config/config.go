// Package config loads the one inventory file that every vcrcovery binary reads: Zabbix,
// SNMP, DNS, standby LXD servers, hypervisors and the protected services (see
// shared/DESIGN.md, "One inventory file").
//
// Parse, don't validate (mdlayher/corerad internal/config is the model): the file is
// decoded strictly into raw structs (raw.go; unknown keys are errors), then build
// (build.go) makes the typed Inventory in one pass: addresses parsed, enumerations as
// constants, every default filled in, secret files checked. It reports every problem at
// once, each prefixed with the path of the field (services[1].probe.ports[0]: must be
// 1-65535, got 0), so that an operator fixes a broken inventory in one round.
package config

import (
	"net/netip"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// DefaultPath is where the binaries look for the inventory without -config.
const DefaultPath = "/etc/vcrcovery/vcrcovery.yaml"

// Inventory is the whole configuration file, typed: addresses are parsed, enumerations
// are constants, defaults are filled in and relative file names are absolute. Only Parse
// and Load make one (through build), so a consumer never parses or checks a field again.
type Inventory struct {
	// StateDir holds locks, spools and sample state (default /var/lib/vcrcovery).
	StateDir    string
	Zabbix      Zabbix
	SNMP        SNMP
	DNS         DNS
	Hypervisors []Hypervisor
	Standbys    []Standby
	// Services are the protected services, each with a primary VM and a standby.
	Services []Service
	// Pooled are the services of the cooperative pool (a services entry with a pool
	// section): no primary VM, so trapd, sender and recover never see them.
	Pooled []PooledService
	// Pool is the pool section; nil without one.
	Pool   *Pool
	Trapd  Trapd
	Sender Sender
	Fence  Fence
}

// Zabbix says where the Zabbix server's trapper and API are and how to log in to the API:
// with an API token (APITokenFile) or with Username and PasswordFile.
type Zabbix struct {
	// Server is the trapper address (port default 10051).
	Server HostPort
	// APIURL is the JSON-RPC endpoint, e.g. https://zabbix.example/api_jsonrpc.php;
	// empty: no API.
	APIURL       string
	APITokenFile string
	Username     string
	PasswordFile string
	// Timeout bounds one request to the trapper or the API (default 5s).
	Timeout time.Duration
	// Prefix starts the name of every object vcr-provision creates for this inventory
	// (host groups, global scripts, actions, fast-path scripts) and is the value of its
	// hosts' vcr.inventory tag, so that several inventories share one Zabbix without
	// touching each other's objects (default DefaultZabbixPrefix, today's names).
	Prefix string
}

// DefaultZabbixPrefix is zabbix.prefix when the inventory leaves it out.
const DefaultZabbixPrefix = "vcrcovery"

// NamePrefix is Prefix, or DefaultZabbixPrefix in a Zabbix built by hand without one.
func (z Zabbix) NamePrefix() string {
	if z.Prefix == "" {
		return DefaultZabbixPrefix
	}
	return z.Prefix
}

// SNMP configures trap intake (trapd) and the SNMPv3 users that hypervisors refer to.
type SNMP struct {
	// TrapListen lists the UDP addresses trapd listens on. A file's empty host (":162",
	// all addresses) is 0.0.0.0, which Go's listener treats the same way (IPv4 and IPv6).
	TrapListen []netip.AddrPort
	// CommunitiesFile is the allow-list of SNMPv2c trap communities, one per line.
	CommunitiesFile string
	// Users are SNMPv3 USM users, accepted on traps and usable by hypervisors.
	Users []V3User
	// SnmptrapdLog is the snmptrapd log file that trapd follows in follow mode.
	SnmptrapdLog string
}

// V3User is an SNMPv3 USM user (RFC 3414). With a PrivProtocol the user is authPriv,
// else authNoPriv.
type V3User struct {
	Name               string
	AuthProtocol       AuthProtocol
	AuthPassphraseFile string
	PrivProtocol       PrivProtocol
	PrivPassphraseFile string
}

// Hypervisor is a KVM host whose libvirt-snmp agent serves LIBVIRT-MIB.
type Hypervisor struct {
	Name string
	// ZabbixHost is the Zabbix host that holds this hypervisor's guest items (default: Name).
	ZabbixHost string
	// Address of the SNMP agent (port default 161); the host may be a name.
	Address HostPort
	// Version is SNMPv2c (default) or SNMPv3.
	Version SNMPVersion
	// CommunityFile holds the v2c community (version 2c).
	CommunityFile string
	// User is the snmp.users entry of a version 3 agent.
	User    *V3User
	Timeout time.Duration // per request, default 2s
	Retries int           // default 0
}

// DNS is the authoritative server that takes TSIG-signed updates (RFC 2136, RFC 3007).
type DNS struct {
	// Server is the server's address (port default 53).
	Server HostPort
	// Zone is the zone that holds the services' names, canonical (example.com.).
	Zone string
	// TSIGKeyFile is a key file in the format tsig-keygen writes; TSIGKey is its key,
	// read (and its permissions checked) when the inventory is built.
	TSIGKeyFile string
	TSIGKey     dnsupdate.Key
	// TTL of the A records written, in seconds (default 5): short, so clients follow a switch.
	TTL     uint32
	Timeout time.Duration // default 2s
}

// Standby is an LXD server that holds standby containers: the standby VM or a bigger one.
type Standby struct {
	Name string
	// URL is unix:///path/to/unix.socket or https://host:port.
	URL string
	// ZabbixHost is the standby VM's host in Zabbix, where recover reports (default: Name).
	ZabbixHost string
	// ZabbixAgent is the standby VM's Zabbix agent, which runs the recover command of
	// the Zabbix action (port default 10050); zero when not given (provisioning then uses
	// the zabbix_host name).
	ZabbixAgent HostPort
	// Capacity is how many running containers it takes before migrate moves some away
	// (0: no limit).
	Capacity int
	// Network is the LXD network its containers use: a container migrated here whose own
	// NIC device names a network this server lacks is attached to this one instead.
	Network string
	// MaxCPUPercent and MaxMemoryPercent are the load above which vcr-migrate -auto
	// moves containers away (0: that measure is not checked).
	MaxCPUPercent    float64
	MaxMemoryPercent float64
	// ClientCertFile, ClientKeyFile and ServerCertFile authenticate an https URL.
	ClientCertFile string
	ClientKeyFile  string
	ServerCertFile string
	// Weight makes the standby a pool host with that share of the ring (0: not one).
	Weight int
}

// Service is one protected service: its primary VM and its standby container.
type Service struct {
	Name string
	// Hypervisor names the hypervisors entry whose agent reports the primary VM.
	Hypervisor string
	// VMUUID is the primary VM's libvirt UUID (the index of libvirtGuestTable).
	VMUUID libvirtmib.UUID
	// ZabbixHost is the primary VM's host in Zabbix (default: Name).
	ZabbixHost string
	// DNSName is the name clients use, canonical (web1.example.com.), inside DNS.Zone.
	DNSName string
	// PrimaryAddress is the primary VM's IPv4 address, the A record while it serves.
	PrimaryAddress netip.Addr
	Probe          Probe
	Standby        ServiceStandby
	// Hooks run in the container after it starts (phase recover): in a recovery, and in
	// a cold drill's scratch instance, which must come up as a failover's would.
	Hooks []Hook
	// TestHooks (phase test) run only in a drill (vcr-recover -test), after Hooks in a
	// cold drill's scratch instance, alone in a warm standby's running container: they
	// check, never change, since a warm container may serve tomorrow's failover.
	TestHooks []Hook
	// FastPath lets trapd start recovery through the Zabbix API at once.
	FastPath bool
	// Sync keeps the standby container's data fresh (nil: the service has none;
	// vcr-recover -sync skips it).
	Sync *Sync
	// Failback is what -failback runs before it switches the name back.
	Failback Failback
	// TSIGKeyFile names the service's own TSIG key, which signs its name's updates
	// (empty: DNS.TSIGKey does): a server policy can then grant each key its own name
	// only. TSIGKey is the key, read when the inventory is built.
	TSIGKeyFile string
	TSIGKey     dnsupdate.Key
}

// Sync is how a service's standby container is brought up to date from the primary,
// by the service's own means. The commands run inside the standby container (it is the
// side that receives the data, and the only one vcrcovery can reach without a login on
// the primary), bounded by Timeout; vcr-recover -sync runs them every Period and never
// while the service is recovered (the name on the container).
type Sync struct {
	// Command pulls the primary's data into the container (rsync, a dump and restore);
	// its success makes the standby's data as old as the run's start.
	Command []string
	// LagCommand, instead of Command, prints the replication lag in seconds for a
	// service that replicates itself (a database replica).
	LagCommand []string
	Period     time.Duration // default 5m
	Timeout    time.Duration // default 2m, at most Period
	// MaxAge is the age of the standby's data above which Zabbix raises a problem
	// (default 3 periods).
	MaxAge time.Duration
}

// Failback holds the hooks -failback runs, in this order, before the DNS switch back
// to the primary; nil: that step is skipped. They run inside the container, which holds
// the data written while it served: quiesce stops writes there, reverse sync pushes the
// data to the repaired primary, verify compares the two.
type Failback struct {
	Quiesce     *Hook
	ReverseSync *Hook
	Verify      *Hook
}

// Steps are the configured hooks, in their order (a hook's Name is its step name).
func (f Failback) Steps() []Hook {
	var hs []Hook
	for _, h := range []*Hook{f.Quiesce, f.ReverseSync, f.Verify} {
		if h != nil {
			hs = append(hs, *h)
		}
	}
	return hs
}

// Probe says how to tell that the service answers.
type Probe struct {
	// Ports has at least one port; the first is also fencing's port check.
	Ports []int
	// Send is written after connecting to the first port; Expect must then be read.
	Send   string
	Expect string
	// Timeout is the whole probe deadline (default 10s).
	Timeout time.Duration
}

// ServiceStandby places the service's standby container.
type ServiceStandby struct {
	// Host names a standbys entry.
	Host string
	// Mode is ModeWarm (the container runs already) or ModeCold (started from Backup
	// on demand).
	Mode StandbyMode
	// Container is the LXD instance name (default: the service name).
	Container string
	Backup    Backup
}

// Backup is where a cold standby container comes from.
type Backup struct {
	// Kind is BackupImage (an image alias or fingerprint), BackupTarball (an LXD backup
	// tarball) or BackupSnapshot ("container/snap" or just "snap"); BackupNone for a
	// warm standby without one.
	Kind   BackupKind
	Source string
	// MaxAge is the age of the backup (a tarball's mtime, an image's or snapshot's
	// creation) above which Zabbix raises a problem; 0: not reported.
	MaxAge time.Duration
}

// Phases of a services[].hooks entry.
const (
	PhaseRecover = "recover" // the default: run at every start of the container
	PhaseTest    = "test"    // run only by a drill, to check the standby
)

// Hook is a command run inside the container after it starts (e.g. promote a replica).
type Hook struct {
	Name    string
	Command []string
	Timeout time.Duration // default 30s
}

// Trapd is vcr-trapd's deployment settings; its flags of the same names override them.
type Trapd struct {
	// ZabbixHost is the Zabbix host of trapd's health counters (default: the first
	// standby's zabbix_host; empty without standbys: no counters are sent).
	ZabbixHost string
	// SpoolMax bounds the disk spool in bytes (default 256 MiB); past it the oldest
	// values are dropped (counted).
	SpoolMax int64
	// RejectRetry is how long values the server refuses are retried (default 3m): a new
	// guest's items come from LLD some time after its discovery value.
	RejectRetry time.Duration
}

// Sender is vcr-sender's deployment settings; its flags of the same names override them.
type Sender struct {
	// Interval is the sampling interval (default 5s).
	Interval time.Duration
	// FreshWait bounds how long after its tick a sample may wait for a fresh table
	// (default 0: a quarter of the interval in use, so that an -interval flag keeps it).
	FreshWait time.Duration
	// Concurrency is how many hypervisors are sampled at once (default 16).
	Concurrency int
}

// Fence is the time budget of fencing (internal/fence) in a recovery.
type Fence struct {
	// PortTimeout bounds the connect to the primary's service port (default 50ms). A
	// destroyed VM's address never refuses, it stays silent, so this is spent in full
	// on every recovery.
	PortTimeout time.Duration
	// EvidenceWait is how long recover waits for evidence that the primary is down
	// while its port is silent (default 6s; recover's -fence-wait overrides it).
	EvidenceWait time.Duration
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

// ServiceForVM returns the service whose primary VM has the UUID.
func (inv *Inventory) ServiceForVM(uuid libvirtmib.UUID) (*Service, bool) {
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

// DNSClient is a client of the inventory's DNS server that signs each service's name
// with the service's own key when it has one, else with the shared dns.tsig_key_file.
func (inv *Inventory) DNSClient() *dnsupdate.Client {
	c := &dnsupdate.Client{Server: inv.DNS.Server.String(), Zone: inv.DNS.Zone, Key: inv.DNS.TSIGKey,
		TTL: inv.DNS.TTL, Timeout: inv.DNS.Timeout, Keys: map[string]dnsupdate.Key{}}
	for _, s := range inv.Services {
		if s.TSIGKeyFile != "" {
			c.Keys[s.DNSName] = s.TSIGKey
		}
	}
	for _, s := range inv.Pooled {
		if s.TSIGKeyFile != "" {
			c.Keys[s.DNSName] = s.TSIGKey
		}
	}
	return c
}
