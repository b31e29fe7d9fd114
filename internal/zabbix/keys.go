package zabbix

import (
	"encoding/json"
	"sort"
)

// Item keys of the vcrcovery templates (zabbix-templates/). trapd, sender, recover and
// provisioning all take them from here.
const (
	// KeyGuestDiscovery is the hypervisor template's LLD rule (trapper).
	KeyGuestDiscovery = "vcr.guest.discovery"
	// KeyServiceDiscovery is the standby template's LLD rule (trapper).
	KeyServiceDiscovery = "vcr.service.discovery"
)

// Per-guest item keys on the hypervisor's host, from the LLD prototypes.
func KeyGuestState(uuid string) string     { return "vcr.guest.state[" + uuid + "]" }
func KeyGuestStateText(uuid string) string { return "vcr.guest.state.text[" + uuid + "]" }
func KeyGuestCPU(uuid string) string       { return "vcr.guest.cpu[" + uuid + "]" }
func KeyGuestVCPUs(uuid string) string     { return "vcr.guest.vcpus[" + uuid + "]" }
func KeyGuestMemory(uuid string) string    { return "vcr.guest.memory[" + uuid + "]" }

// Per-service item keys on the standby VM's host.
func KeyRecoverResult(service string) string   { return "vcr.recover.result[" + service + "]" }
func KeyRecoverExit(service string) string     { return "vcr.recover.exit[" + service + "]" }
func KeyRecoverDuration(service string) string { return "vcr.recover.duration[" + service + "]" }
func KeyRecoverStep(service, step string) string {
	return "vcr.recover.step[" + service + "," + step + "]"
}
func KeyServedFrom(service string) string { return "vcr.service.served_from[" + service + "]" }

// FastPathScript names the manual host script (scope 2) that trapd's fast path runs
// through script.execute on a service's standby host; vcr-provision creates one per
// fast_path service. prefix is the inventory's zabbix.prefix: each inventory on one
// Zabbix has its own.
func FastPathScript(prefix, service string) string { return prefix + " recover " + service }

// Per-service items of vcr-migrate on the service's standby host: result, exit code,
// whole-run seconds, downtime (source out of service until the target answered) and
// seconds per phase (pre-copy, refresh, cutover).
func KeyMigrateResult(service string) string   { return "vcr.migrate.result[" + service + "]" }
func KeyMigrateExit(service string) string     { return "vcr.migrate.exit[" + service + "]" }
func KeyMigrateDuration(service string) string { return "vcr.migrate.duration[" + service + "]" }
func KeyMigrateDowntime(service string) string { return "vcr.migrate.downtime[" + service + "]" }
func KeyMigratePhase(service, phase string) string {
	return "vcr.migrate.phase[" + service + "," + phase + "]"
}

// Per-service items of vcr-recover -sync on the service's standby host: the age of the
// standby's data (the RPO a failover now would have) and its maximum from the
// inventory, the last sync's result and seconds; for a cold standby's backup source its
// age, maximum and "ok" or the error that kept it from being dated.
func KeySyncAge(service string) string      { return "vcr.sync.age[" + service + "]" }
func KeySyncMaxAge(service string) string   { return "vcr.sync.max_age[" + service + "]" }
func KeySyncResult(service string) string   { return "vcr.sync.result[" + service + "]" }
func KeySyncSeconds(service string) string  { return "vcr.sync.seconds[" + service + "]" }
func KeyBackupAge(service string) string    { return "vcr.backup.age[" + service + "]" }
func KeyBackupMaxAge(service string) string { return "vcr.backup.max_age[" + service + "]" }
func KeyBackupResult(service string) string { return "vcr.backup.result[" + service + "]" }

// Per-service items of vcr-recover -test (a drill) on the service's standby host: 1
// when the standby came up and answered (0 otherwise), the drill's seconds (for a cold
// standby the RTO a failover would have: scratch instance created to ports answering),
// and the step that failed ("" when ready).
func KeyDrillReady(service string) string   { return "vcr.drill.ready[" + service + "]" }
func KeyDrillSeconds(service string) string { return "vcr.drill.seconds[" + service + "]" }
func KeyDrillStep(service string) string    { return "vcr.drill.step[" + service + "]" }

// KeyStandbyOverload is each standby host's load relative to its thresholds (the
// highest of count/capacity, CPU and memory; above 1: overloaded), from vcr-migrate -auto.
const KeyStandbyOverload = "vcr.standby.overload"

// Pool items on each pooled service's host (template "vcrcovery pooled service"), sent
// by the owner's pool agent every snapshot period.
const (
	KeyPoolOwner          = "vcr.pool.owner"           // the owning pool host
	KeyPoolReplicas       = "vcr.pool.replicas"        // live replicas holding the latest committed snapshot
	KeyPoolReplicasWanted = "vcr.pool.replicas.wanted" // services[].pool.replicas
	KeyPoolSnapshotAge    = "vcr.pool.snapshot.age"    // seconds since the latest committed snapshot was taken
	KeyPoolSnapshotPeriod = "vcr.pool.snapshot.period" // pool.snapshot_period, seconds
	KeyPoolSnapshotSize   = "vcr.pool.snapshot.size"   // bytes of the container's files in the latest committed snapshot
)

// Sender health items on each hypervisor's host.
const (
	KeySenderError    = "vcr.sender.error"    // empty when the last round succeeded
	KeySenderGuests   = "vcr.sender.guests"   // guests in the last round
	KeySenderDuration = "vcr.sender.duration" // seconds the round took
	KeySenderVersion  = "vcr.sender.version"  // the build that sent them (cli.Build)
)

// KeyTrapd is a trapd health counter item, e.g. KeyTrapd("received").
func KeyTrapd(counter string) string { return "vcr.trapd." + counter }

// KeyTrapdVersion is the build of the vcr-trapd that sends the counters (cli.Build),
// a text item beside them.
const KeyTrapdVersion = "vcr.trapd.version"

// Guest is one row of the guest discovery.
type Guest struct {
	UUID    string // lower-case canonical
	Name    string
	Service string // the inventory service whose primary this VM is, or ""
	Standby string // that service's standby host, or ""
}

// GuestDiscovery is the value for KeyGuestDiscovery. Zabbix LLD treats every guest
// missing from a discovery value as lost (and deletes its items after the rule's
// lifetime), so a sender must always send every guest it knows, never only new ones.
// Rows are sorted by UUID so equal sets give equal values.
func GuestDiscovery(guests []Guest) string {
	rows := make([]map[string]string, 0, len(guests))
	sorted := append([]Guest(nil), guests...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].UUID < sorted[j].UUID })
	for _, g := range sorted {
		rows = append(rows, map[string]string{
			"{#VM.UUID}": g.UUID, "{#VM.NAME}": g.Name, "{#SERVICE}": g.Service, "{#STANDBY}": g.Standby,
		})
	}
	b, _ := json.Marshal(rows) // maps of strings always marshal
	return string(b)
}

// ServiceDiscovery is the value for KeyServiceDiscovery: the services a standby holds.
func ServiceDiscovery(services []string) string {
	rows := make([]map[string]string, 0, len(services))
	sorted := append([]string(nil), services...)
	sort.Strings(sorted)
	for _, s := range sorted {
		rows = append(rows, map[string]string{"{#SERVICE}": s})
	}
	b, _ := json.Marshal(rows)
	return string(b)
}
