package templates

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// uuidV4 is the form configuration.import wants: a UUIDv4 as 32 lower-case hex digits.
var uuidV4 = regexp.MustCompile(`^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$`)

func TestAllTemplates(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tpl := range all {
		got = append(got, tpl.File+"="+tpl.Name)
	}
	want := []string{
		"vcrcovery-cloud.yaml=" + Cloud,
		"vcrcovery-hypervisor.yaml=" + Hypervisor,
		"vcrcovery-pool.yaml=" + Pooled,
		"vcrcovery-standby.yaml=" + Standby,
		"vcrcovery-trapd.yaml=" + Trapd,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("templates (-want +got)\n%s", diff)
	}
}

// walk calls f on every mapping node of the document with the path of keys to it.
func walk(n *yaml.Node, path string, f func(path string, m map[string]*yaml.Node)) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			walk(c, path, f)
		}
	case yaml.MappingNode:
		m := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = n.Content[i+1]
		}
		f(path, m)
		for i := 0; i+1 < len(n.Content); i += 2 {
			walk(n.Content[i+1], path+"/"+n.Content[i].Value, f)
		}
	}
}

func parse(t *testing.T, tpl Template) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(tpl.Source, &doc); err != nil {
		t.Fatalf("%s: %v", tpl.File, err)
	}
	return &doc
}

// TestUUIDs: every object has a real UUIDv4, none is used twice, and the template group
// has the same UUID in every file (one group, shared).
func TestUUIDs(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	groupUUID := ""
	for _, tpl := range all {
		walk(parse(t, tpl), "", func(path string, m map[string]*yaml.Node) {
			u, ok := m["uuid"]
			if !ok {
				return
			}
			where := tpl.File + ":" + path
			if !uuidV4.MatchString(u.Value) {
				t.Errorf("%s: uuid %q is not a UUIDv4 in 32 lower-case hex digits", where, u.Value)
			}
			if path == "/zabbix_export/groups" {
				if groupUUID != "" && u.Value != groupUUID {
					t.Errorf("%s: template group uuid %s differs from %s", where, u.Value, groupUUID)
				}
				groupUUID = u.Value
				return
			}
			if prev, dup := seen[u.Value]; dup {
				t.Errorf("%s: uuid %s also used at %s", where, u.Value, prev)
			}
			seen[u.Value] = where
		})
	}
}

// item is what the contract fixes about an item or item prototype.
type item struct {
	Template, Type, ValueType string
}

// TestContract: the keys that trapd, sender and recover send exist with the agreed
// types (a missing value_type is the export's default, UNSIGNED; a missing type is
// ZABBIX_PASSIVE).
func TestContract(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]item{}
	for _, tpl := range all {
		walk(parse(t, tpl), "", func(path string, m map[string]*yaml.Node) {
			if !strings.HasSuffix(path, "/items") && !strings.HasSuffix(path, "/item_prototypes") && !strings.HasSuffix(path, "/discovery_rules") {
				return
			}
			it := item{Template: tpl.Name, Type: "ZABBIX_PASSIVE", ValueType: "UNSIGNED"}
			if v, ok := m["type"]; ok {
				it.Type = v.Value
			}
			if v, ok := m["value_type"]; ok {
				it.ValueType = v.Value
			}
			if strings.HasSuffix(path, "/discovery_rules") {
				it.ValueType = "LLD"
			}
			got[m["key"].Value] = it
		})
	}
	const vm, svc = "{#VM.UUID}", "{#SERVICE}"
	hyp := func(vt string) item { return item{Hypervisor, "TRAP", vt} }
	sb := func(vt string) item { return item{Standby, "TRAP", vt} }
	want := map[string]item{
		zabbix.KeyGuestDiscovery:       hyp("LLD"),
		zabbix.KeyGuestState(vm):       hyp("UNSIGNED"),
		zabbix.KeyGuestStateText(vm):   hyp("CHAR"),
		zabbix.KeyGuestCPU(vm):         hyp("FLOAT"),
		zabbix.KeyGuestVCPUs(vm):       hyp("UNSIGNED"),
		zabbix.KeyGuestMemory(vm):      hyp("UNSIGNED"),
		zabbix.KeyServiceDiscovery:     sb("LLD"),
		zabbix.KeyRecoverResult(svc):   sb("CHAR"),
		zabbix.KeyRecoverExit(svc):     sb("UNSIGNED"),
		zabbix.KeyRecoverDuration(svc): sb("FLOAT"),
		zabbix.KeyServedFrom(svc):      sb("CHAR"),
		"agent.ping":                   {Standby, "ZABBIX_PASSIVE", "UNSIGNED"},
		zabbix.KeyMigrateResult(svc):   sb("CHAR"),
		zabbix.KeyMigrateExit(svc):     sb("UNSIGNED"),
		zabbix.KeyMigrateDuration(svc): sb("FLOAT"),
		zabbix.KeyMigrateDowntime(svc): sb("FLOAT"),
		zabbix.KeyStandbyOverload:      sb("FLOAT"),
		zabbix.KeyPoolOwner:            {Pooled, "TRAP", "CHAR"},
		zabbix.KeyPoolReplicas:         {Pooled, "TRAP", "UNSIGNED"},
		zabbix.KeyPoolReplicasWanted:   {Pooled, "TRAP", "UNSIGNED"},
		zabbix.KeyPoolSnapshotAge:      {Pooled, "TRAP", "FLOAT"},
		zabbix.KeyPoolSnapshotPeriod:   {Pooled, "TRAP", "FLOAT"},
		zabbix.KeyPoolSnapshotSize:     {Pooled, "TRAP", "UNSIGNED"},
		zabbix.KeySyncAge(svc):         sb("FLOAT"),
		zabbix.KeySyncMaxAge(svc):      sb("FLOAT"),
		zabbix.KeySyncResult(svc):      sb("CHAR"),
		zabbix.KeySyncSeconds(svc):     sb("FLOAT"),
		zabbix.KeyBackupAge(svc):       sb("FLOAT"),
		zabbix.KeyBackupMaxAge(svc):    sb("FLOAT"),
		zabbix.KeyBackupResult(svc):    sb("CHAR"),
		zabbix.KeyDrillReady(svc):      sb("UNSIGNED"),
		zabbix.KeyDrillSeconds(svc):    sb("FLOAT"),
		zabbix.KeyDrillStep(svc):       sb("CHAR"),
	}
	for _, phase := range []string{"precopy", "refresh", "cutover"} {
		want[zabbix.KeyMigratePhase(svc, phase)] = sb("FLOAT")
	}
	for _, step := range []string{"lock", "fence", "container", "hooks", "probe", "dns", "report"} {
		want[zabbix.KeyRecoverStep(svc, step)] = sb("FLOAT")
	}
	for _, c := range []string{"received", "decoded", "rejected", "malformed", "sent", "spooled", "replayed", "dropped"} {
		want[zabbix.KeyTrapd(c)] = item{Trapd, "TRAP", "UNSIGNED"}
	}
	want[zabbix.KeyTrapdVersion] = item{Trapd, "TRAP", "CHAR"}
	want[zabbix.KeySenderVersion] = hyp("CHAR")
	for k, w := range want {
		if diff := cmp.Diff(w, got[k]); diff != "" {
			t.Errorf("item %s (-want +got)\n%s", k, diff)
		}
	}
}

// TestRecoverTags: exactly the shut-off/crashed and hung triggers start recovery, and
// they carry the tags the action and vcr-recover read.
func TestRecoverTags(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	var recovering []string
	for _, tpl := range all {
		walk(parse(t, tpl), "", func(path string, m map[string]*yaml.Node) {
			if !strings.HasSuffix(path, "/triggers") && !strings.HasSuffix(path, "/trigger_prototypes") {
				return
			}
			tags := map[string]string{}
			if tn, ok := m["tags"]; ok {
				for _, c := range tn.Content {
					var tg zabbix.Tag
					if err := c.Decode(&tg); err != nil {
						t.Fatal(err)
					}
					tags[tg.Tag] = tg.Value
				}
			}
			if tags["vcrcovery"] != "recover" {
				return
			}
			recovering = append(recovering, m["name"].Value)
			want := map[string]string{"vcrcovery": "recover", "service": "{#SERVICE}", "standby": "{#STANDBY}", "vm_uuid": "{#VM.UUID}", "vm": "{#VM.NAME}"}
			if diff := cmp.Diff(want, tags); diff != "" {
				t.Errorf("%s: trigger %q tags (-want +got)\n%s", tpl.File, m["name"].Value, diff)
			}
		})
	}
	sort.Strings(recovering)
	if len(recovering) != 2 || !strings.Contains(recovering[0], " hung:") || !strings.Contains(recovering[1], " shut off or crashed") {
		t.Errorf("triggers tagged vcrcovery=recover: %q, want the hung and the shut-off/crashed ones", recovering)
	}
}
