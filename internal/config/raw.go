package config

import "time"

// The raw inventory: the file's shape, decoded strictly (unknown keys and wrong types
// are errors named by their path, see load.go) and never used outside this package.
// build turns it into the typed Inventory. A field with a default is a pointer here, so
// that a value the file gives (even 0) is told apart from one it leaves out.

type rawInventory struct {
	StateDir    *string         `yaml:"state_dir"`
	Zabbix      rawZabbix       `yaml:"zabbix"`
	SNMP        rawSNMP         `yaml:"snmp"`
	DNS         rawDNS          `yaml:"dns"`
	Hypervisors []rawHypervisor `yaml:"hypervisors"`
	Standbys    []rawStandby    `yaml:"standbys"`
	Services    []rawService    `yaml:"services"`
	Trapd       rawTrapd        `yaml:"trapd"`
	Sender      rawSender       `yaml:"sender"`
	Fence       rawFence        `yaml:"fence"`
	Pool        *rawPool        `yaml:"pool"`
}

type rawZabbix struct {
	Server       string         `yaml:"server"`
	APIURL       string         `yaml:"api_url"`
	APITokenFile string         `yaml:"api_token_file"`
	Username     string         `yaml:"username"`
	PasswordFile string         `yaml:"password_file"`
	Timeout      *time.Duration `yaml:"timeout"`
	Prefix       *string        `yaml:"prefix"`
}

type rawSNMP struct {
	TrapListen      []string    `yaml:"trap_listen"`
	CommunitiesFile string      `yaml:"communities_file"`
	Users           []rawV3User `yaml:"users"`
	SnmptrapdLog    string      `yaml:"snmptrapd_log"`
}

type rawV3User struct {
	Name               string `yaml:"name"`
	AuthProtocol       string `yaml:"auth_protocol"`
	AuthPassphraseFile string `yaml:"auth_passphrase_file"`
	PrivProtocol       string `yaml:"priv_protocol"`
	PrivPassphraseFile string `yaml:"priv_passphrase_file"`
}

type rawHypervisor struct {
	Name          string         `yaml:"name"`
	ZabbixHost    string         `yaml:"zabbix_host"`
	Address       string         `yaml:"address"`
	Version       string         `yaml:"version"`
	CommunityFile string         `yaml:"community_file"`
	User          string         `yaml:"user"`
	Timeout       *time.Duration `yaml:"timeout"`
	Retries       int            `yaml:"retries"`
}

type rawDNS struct {
	Server      string         `yaml:"server"`
	Zone        string         `yaml:"zone"`
	TSIGKeyFile string         `yaml:"tsig_key_file"`
	TTL         *int           `yaml:"ttl"`
	Timeout     *time.Duration `yaml:"timeout"`
}

type rawStandby struct {
	Name             string  `yaml:"name"`
	URL              string  `yaml:"url"`
	ZabbixHost       string  `yaml:"zabbix_host"`
	ZabbixAgent      string  `yaml:"zabbix_agent"`
	Capacity         int     `yaml:"capacity"`
	Network          string  `yaml:"network"`
	MaxCPUPercent    float64 `yaml:"max_cpu_percent"`
	MaxMemoryPercent float64 `yaml:"max_memory_percent"`
	ClientCertFile   string  `yaml:"client_cert_file"`
	ClientKeyFile    string  `yaml:"client_key_file"`
	ServerCertFile   string  `yaml:"server_cert_file"`
	Weight           *int    `yaml:"weight"`
}

type rawService struct {
	Name           string            `yaml:"name"`
	Hypervisor     string            `yaml:"hypervisor"`
	VMUUID         string            `yaml:"vm_uuid"`
	ZabbixHost     string            `yaml:"zabbix_host"`
	DNSName        string            `yaml:"dns_name"`
	PrimaryAddress string            `yaml:"primary_address"`
	Probe          rawProbe          `yaml:"probe"`
	Standby        rawServiceStandby `yaml:"standby"`
	Hooks          []rawHook         `yaml:"hooks"`
	FastPath       bool              `yaml:"fast_path"`
	Sync           *rawSync          `yaml:"sync"`
	Failback       rawFailback       `yaml:"failback"`
	Pool           *rawServicePool   `yaml:"pool"`
	TSIGKeyFile    string            `yaml:"tsig_key_file"`
}

// rawSync: exactly one of Command and LagCommand.
type rawSync struct {
	Command    []string       `yaml:"command"`
	LagCommand []string       `yaml:"lag_command"`
	Period     *time.Duration `yaml:"period"`
	Timeout    *time.Duration `yaml:"timeout"`
	MaxAge     *time.Duration `yaml:"max_age"`
}

// rawFailback holds the failback hooks, each optional.
type rawFailback struct {
	Quiesce     *rawStep `yaml:"quiesce"`
	ReverseSync *rawStep `yaml:"reverse_sync"`
	Verify      *rawStep `yaml:"verify"`
}

// rawStep is a named hook whose name is its key.
type rawStep struct {
	Command []string       `yaml:"command"`
	Timeout *time.Duration `yaml:"timeout"`
}

type rawProbe struct {
	Ports   []int          `yaml:"ports"`
	Send    string         `yaml:"send"`
	Expect  string         `yaml:"expect"`
	Timeout *time.Duration `yaml:"timeout"`
}

type rawServiceStandby struct {
	Host        string    `yaml:"host"`
	Mode        string    `yaml:"mode"`
	Container   string    `yaml:"container"`
	StoragePool string    `yaml:"storage_pool"`
	Backup      rawBackup `yaml:"backup"`
}

type rawBackup struct {
	Kind   string         `yaml:"kind"`
	Source string         `yaml:"source"`
	MaxAge *time.Duration `yaml:"max_age"`
}

type rawHook struct {
	Name    string         `yaml:"name"`
	Phase   string         `yaml:"phase"`
	Command []string       `yaml:"command"`
	Timeout *time.Duration `yaml:"timeout"`
}

type rawTrapd struct {
	ZabbixHost  string         `yaml:"zabbix_host"`
	SpoolMax    *int64         `yaml:"spool_max"`
	RejectRetry *time.Duration `yaml:"reject_retry"`
}

type rawSender struct {
	Interval    *time.Duration `yaml:"interval"`
	FreshWait   *time.Duration `yaml:"fresh_wait"`
	Concurrency *int           `yaml:"concurrency"`
}

type rawFence struct {
	PortTimeout  *time.Duration `yaml:"port_timeout"`
	EvidenceWait *time.Duration `yaml:"evidence_wait"`
}

type rawPool struct {
	Name           string         `yaml:"name"`
	Etcd           rawEtcd        `yaml:"etcd"`
	LeaseTTL       *time.Duration `yaml:"lease_ttl"`
	SnapshotPeriod *time.Duration `yaml:"snapshot_period"`
	Keep           *int           `yaml:"keep"`
}

type rawEtcd struct {
	Endpoints   []string       `yaml:"endpoints"`
	CAFile      string         `yaml:"ca_file"`
	CertFile    string         `yaml:"cert_file"`
	KeyFile     string         `yaml:"key_file"`
	DialTimeout *time.Duration `yaml:"dial_timeout"`
}

type rawServicePool struct {
	Replicas    *int      `yaml:"replicas"`
	Pin         string    `yaml:"pin"`
	Container   string    `yaml:"container"`
	StoragePool string    `yaml:"storage_pool"`
	Backup      rawBackup `yaml:"backup"`
}
