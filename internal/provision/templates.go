package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// importRules let an import create and update the template and everything in it, and
// delete items, triggers, discovery rules and value maps that the file no longer has:
// the files are the templates' source of truth. Host-level overrides (macros on hosts)
// are not touched by a template import.
var importRules = zabbix.ImportRules{
	Groups:         zabbix.ImportRule{CreateMissing: true},
	Templates:      zabbix.ImportRule{CreateMissing: true, UpdateExisting: true},
	Items:          zabbix.ImportRule{CreateMissing: true, UpdateExisting: true, DeleteMissing: true},
	Triggers:       zabbix.ImportRule{CreateMissing: true, UpdateExisting: true, DeleteMissing: true},
	DiscoveryRules: zabbix.ImportRule{CreateMissing: true, UpdateExisting: true, DeleteMissing: true},
	ValueMaps:      zabbix.ImportRule{CreateMissing: true, UpdateExisting: true, DeleteMissing: true},
	TemplateLinks:  zabbix.ImportRule{CreateMissing: true},
}

// templates imports each template file whose content differs from the server's.
func (r *runner) templates(ctx context.Context) error {
	var names []string
	for _, t := range r.plan.Templates {
		names = append(names, t.Name)
	}
	existing, err := r.api.TemplatesByName(ctx, names...)
	if err != nil {
		return fmt.Errorf("look up templates: %w", err)
	}
	have := map[string]bool{}
	for _, t := range existing {
		have[t.Host] = true
	}
	for _, t := range r.plan.Templates {
		diff, err := r.api.ImportCompare(ctx, "yaml", string(t.Source), importRules)
		if err != nil {
			return fmt.Errorf("compare template %s (%s) with the server's: %w", t.Name, t.File, err)
		}
		if diff == nil {
			r.rep.add(Unchanged, "template", t.Name, "")
			continue
		}
		verb := Updated
		if !have[t.Name] {
			verb = Created
		}
		if !r.opts.DryRun {
			if err := r.api.Import(ctx, "yaml", string(t.Source), importRules); err != nil {
				return fmt.Errorf("import template %s (%s): %w", t.Name, t.File, err)
			}
		}
		r.rep.add(verb, "template", t.Name, describeDiff(diff))
	}
	return nil
}

// describeDiff summarises configuration.importcompare's answer, e.g. "items: 2 added;
// triggers: 1 updated". The answer nests objects by kind, each change listing objects
// as {"before":..,"after":..} plus the kinds of their own changed children:
// {"templates":{"updated":[{"before":..,"after":..,"items":{"added":[..]}}]}}.
// An updated object counts only if its own fields changed; added and removed objects
// count once, with their children.
func describeDiff(raw json.RawMessage) string {
	counts := map[string]map[string]int{}
	count := func(kind, change string) {
		if counts[kind] == nil {
			counts[kind] = map[string]int{}
		}
		counts[kind][change]++
	}
	var walkKinds func(m map[string]any)
	walkKinds = func(m map[string]any) {
		for kind, v := range m {
			if kind == "before" || kind == "after" {
				continue
			}
			changes, _ := v.(map[string]any)
			for _, change := range []string{"added", "updated", "removed"} {
				list, _ := changes[change].([]any)
				for _, el := range list {
					obj, _ := el.(map[string]any)
					if change != "updated" {
						count(kind, change)
						continue
					}
					if !reflect.DeepEqual(obj["before"], obj["after"]) {
						count(kind, change)
					}
					walkKinds(obj)
				}
			}
		}
	}
	var root map[string]any
	if json.Unmarshal(raw, &root) != nil {
		return ""
	}
	walkKinds(root)
	var kinds []string
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		var cs []string
		for _, change := range []string{"added", "updated", "removed"} {
			if n := counts[k][change]; n > 0 {
				cs = append(cs, fmt.Sprintf("%d %s", n, change))
			}
		}
		parts = append(parts, strings.ReplaceAll(k, "_", " ")+": "+strings.Join(cs, ", "))
	}
	return strings.Join(parts, "; ")
}
