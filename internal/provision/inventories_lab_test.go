package provision

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// teamB is the second inventory's prefix in TestLabTwoInventories.
const teamB = "vcrtest-b"

// secondInventory is the lab inventory as another team would have it on the same
// Zabbix: its own prefix and its own host names (Zabbix host names are global), the
// same standby names (so only the inventory tag tells the two teams' problems apart),
// web1 with the fast path, both standbys.
func secondInventory(a *config.Inventory) *config.Inventory {
	b := &config.Inventory{Zabbix: a.Zabbix, DNS: a.DNS}
	b.Zabbix.Prefix = teamB
	for _, h := range a.Hypervisors {
		h.ZabbixHost = teamB + "-" + h.Name
		b.Hypervisors = append(b.Hypervisors, h)
	}
	for _, s := range a.Standbys[:2] {
		s.ZabbixHost = teamB + "-" + s.Name
		b.Standbys = append(b.Standbys, s)
	}
	for _, s := range a.Services {
		s.ZabbixHost = teamB + "-" + s.Name
		s.FastPath = s.Name == "web1"
		b.Services = append(b.Services, s)
	}
	return b
}

// removeTeamB deletes every object of prefix teamB, in an order Zabbix accepts
// (actions use scripts and hosts; scripts use the groups).
func removeTeamB(t *testing.T, api *zabbix.API) {
	t.Helper()
	ctx := context.Background()
	del := func(kind string, ids []string, err error) {
		if err == nil {
			err = api.Delete(ctx, kind, ids...)
		}
		if err != nil {
			t.Errorf("clean up %s objects of %s: %v", kind, teamB, err)
		}
	}
	acts, err := api.ActionsByNamePrefix(ctx, teamB+" ")
	var ids []string
	for _, a := range acts {
		ids = append(ids, a.ActionID)
	}
	del("action", ids, err)
	scripts, err := api.ScriptsByNamePrefix(ctx, teamB+" ")
	ids = nil
	for _, s := range scripts {
		ids = append(ids, s.ScriptID)
	}
	del("script", ids, err)
	hosts, err := api.HostsByTag(ctx, zabbix.Tag{Tag: TagInventory, Value: teamB})
	ids = nil
	for _, h := range hosts {
		ids = append(ids, h.HostID)
	}
	del("host", ids, err)
	n := Names{teamB}
	groups, err := api.HostGroupsByName(ctx, n.GroupHypervisors(), n.GroupVMs(), n.GroupStandbys(), n.GroupPooled())
	ids = nil
	for _, g := range groups {
		ids = append(ids, g.GroupID)
	}
	del("hostgroup", ids, err)
}

// TestLabTwoInventories: the lab's inventory (default prefix) and a second team's
// (prefix vcrtest-b, same standby names, another recover command) on the lab's one
// Zabbix. Provisioning the second leaves the first with nothing to change; each
// action requires its own inventory's tag; -prune -dry-run of the second, after a
// standby and a service left it, lists exactly their objects and deletes nothing;
// -prune deletes them; neither inventory's prune ever names the other's objects.
// Everything of vcrtest-b is removed at the end.
func TestLabTwoInventories(t *testing.T) {
	invA := labInventory(t)
	api := labAPI(t, invA)
	ctx := context.Background()
	removeTeamB(t, api)
	t.Cleanup(func() { removeTeamB(t, api) })
	agent := lab.Need(t, "ZABBIX_AGENT")

	optsA := labOptions(t, invA, DefaultRecoverCommand)
	optsA.Sender = nil
	provisionLab(t, api, invA, optsA)
	nA := NamesFor(invA)

	invB := secondInventory(invA)
	optsB := Options{RecoverCommand: "/opt/team-b/zabbix-recover", StandbyAgents: map[string]string{}}
	for _, sb := range invB.Standbys {
		optsB.StandbyAgents[sb.Name] = agent
	}
	provisionLab(t, api, invB, optsB)
	nB := NamesFor(invB)

	// A is exactly as it was: a dry run of it changes nothing.
	dry := optsA
	dry.DryRun, dry.Prune = true, true
	if rep := provisionLab(t, api, invA, dry); rep.Changed() {
		var b bytes.Buffer
		rep.Write(&b)
		t.Fatalf("the first inventory changed after the second was provisioned:\n%s", b.String())
	}
	for _, c := range []struct{ name, command string }{
		{nA.RecoverScript(), recoverCommand(DefaultRecoverCommand)},
		{nB.RecoverScript(), recoverCommand(optsB.RecoverCommand)},
		{nB.FastPath("web1"), "'/opt/team-b/zabbix-recover' 'web1' fast-path"},
	} {
		s, err := api.ScriptsByName(ctx, c.name)
		if err != nil || len(s) != 1 || s[0].Command != c.command {
			t.Errorf("script %q: %+v %v, want one that runs %s", c.name, s, err, c.command)
		}
	}
	for _, n := range []Names{nA, nB} {
		acts, err := api.ActionsByName(ctx, n.RecoverAction("standby"))
		if err != nil || len(acts) != 1 {
			t.Fatalf("action %s: %v %v", n.RecoverAction("standby"), acts, err)
		}
		if !strings.Contains(actionShape(acts[0]), `"`+TagInventory+`"/"`+n.Prefix+`"`) {
			t.Errorf("action %s takes other inventories' problems: %s", acts[0].Name, actionShape(acts[0]))
		}
	}

	// Each cloud host's group checks watch its own inventory's groups.
	for _, c := range []struct {
		host string
		n    Names
	}{{invA.Standbys[0].ZabbixHost, nA}, {invB.Standbys[0].ZabbixHost, nB}} {
		hs, err := api.HostsByName(ctx, c.host)
		if err != nil || len(hs) != 1 {
			t.Fatalf("cloud host %s: %v %v", c.host, hs, err)
		}
		got := map[string]string{}
		for _, m := range hs[0].Macros {
			got[m.Macro] = m.Value
		}
		if got[MacroGroupStandbys] != c.n.GroupStandbys() || got[MacroGroupVMs] != c.n.GroupVMs() {
			t.Errorf("cloud host %s: macros %v, want the groups of prefix %s", c.host, got, c.n.Prefix)
		}
	}

	// Standby big and service web1 (the fast-path one) leave B.
	invB2 := secondInventory(invA)
	invB2.Standbys = invB2.Standbys[:1]
	invB2.Services = invB2.Services[1:]
	for i := range invB2.Services {
		invB2.Services[i].Standby.Host = invB2.Standbys[0].Name
	}
	delete(optsB.StandbyAgents, "big")
	wantGone := []string{
		"action " + nB.RecoverAction("big"), "action " + nB.MigrateAction("big"),
		"script " + nB.FastPath("web1"), "host " + teamB + "-web1", "host " + teamB + "-big",
	}
	pruned := func(rep *Report) []string {
		var out []string
		for _, c := range rep.Changes {
			if c.Verb == Deleted {
				out = append(out, c.Kind+" "+c.Name)
			}
		}
		return out
	}
	sameSet := func(what string, want, got []string) {
		t.Helper()
		w, g := strings.Join(sortedCopy(want), "\n"), strings.Join(sortedCopy(got), "\n")
		if w != g {
			t.Errorf("%s:\n got %s\nwant %s", what, g, w)
		}
	}
	dryB := optsB
	dryB.DryRun, dryB.Prune = true, true
	sameSet("-prune -dry-run lists", wantGone, pruned(provisionLab(t, api, invB2, dryB)))
	if s, _ := api.ScriptsByName(ctx, nB.FastPath("web1")); len(s) != 1 {
		t.Errorf("a dry run deleted script %s", nB.FastPath("web1"))
	}
	realB := optsB
	realB.Prune = true
	sameSet("-prune deletes", wantGone, pruned(provisionLab(t, api, invB2, realB)))
	if s, _ := api.ScriptsByName(ctx, nB.FastPath("web1")); len(s) != 0 {
		t.Errorf("script %s survived -prune", nB.FastPath("web1"))
	}
	if h, _ := api.HostsByName(ctx, teamB+"-big"); len(h) != 0 {
		t.Errorf("host %s-big survived -prune", teamB)
	}
	if rep := provisionLab(t, api, invB2, realB); rep.Changed() {
		var b bytes.Buffer
		rep.Write(&b)
		t.Errorf("a second -prune changed something:\n%s", b.String())
	}
	for _, got := range pruned(provisionLab(t, api, invA, dry)) {
		if strings.Contains(got, teamB) {
			t.Errorf("the first inventory's -prune would delete %s of the second", got)
		}
	}
	if rep := provisionLab(t, api, invA, dry); rep.Changed() {
		t.Errorf("the first inventory changed after the second's prune")
	}
	// The lab stays provisioned as the other tests expect.
	ctx2, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := Run(ctx2, api, invA, labOptions(t, invA, DefaultRecoverCommand)); err != nil {
		t.Errorf("restore the lab's provisioning: %v", err)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
