package templates

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// runbook is the on-call runbook, whose section 6 has one entry per trigger.
const runbook = "../docs/runbook.md"

// runbookEntry is the line that opens a trigger's entry: the trigger's name exactly as
// the template has it, between backquotes.
var runbookEntry = regexp.MustCompile("(?m)^Trigger: `(.+)`$")

// TestRunbookCoversTriggers: every trigger and trigger prototype of every template
// has an entry in docs/runbook.md, and every entry names a trigger that exists (a
// renamed trigger leaves no stale entry behind). The failure names the trigger, its
// template file and the line to add.
func TestRunbookCoversTriggers(t *testing.T) {
	b, err := os.ReadFile(runbook)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]bool{}
	for _, m := range runbookEntry.FindAllStringSubmatch(string(b), -1) {
		entries[m[1]] = true
	}
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	triggers := map[string]string{} // name -> template file
	for _, tpl := range all {
		walk(parse(t, tpl), "", func(path string, m map[string]*yaml.Node) {
			if !strings.HasSuffix(path, "/triggers") && !strings.HasSuffix(path, "/trigger_prototypes") {
				return
			}
			if n, ok := m["name"]; ok {
				triggers[n.Value] = tpl.File
			}
		})
	}
	if len(triggers) == 0 {
		t.Fatal("no triggers found in the templates")
	}
	for _, name := range slices.Sorted(maps.Keys(triggers)) {
		if file := triggers[name]; !entries[name] {
			t.Errorf("docs/runbook.md has no entry for trigger %q of zabbix-templates/%s: add a section under \"6. Triggers\" with the line\nTrigger: `%s`\nand what it means and what to do", name, file, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		if _, ok := triggers[name]; !ok {
			t.Errorf("docs/runbook.md has an entry for trigger %q, which no template has (renamed or removed?)", name)
		}
	}
}
