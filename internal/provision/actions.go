package provision

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// script creates or updates the global scripts "vcrcovery recover" and "vcrcovery
// migrate auto" and the fast-path scripts. They may run on hosts of group "vcrcovery
// standbys" only.
func (r *runner) script(ctx context.Context) error {
	r.scriptIDs = map[string]string{}
	for _, s := range []zabbix.Script{r.plan.Script, r.plan.MigrateScript} {
		id, err := r.ensureScript(ctx, s)
		if err != nil {
			return err
		}
		r.scriptIDs[s.Name] = id
	}
	for _, s := range r.plan.FastPath {
		if _, err := r.ensureScript(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// ensureScript creates want, or updates the script of that name to match it, and
// returns its ID ("" in a dry run that would create it).
func (r *runner) ensureScript(ctx context.Context, want zabbix.Script) (string, error) {
	want.GroupID = r.groupIDs[r.plan.Names.GroupStandbys()]
	have, err := r.api.ScriptsByName(ctx, want.Name)
	if err != nil {
		return "", fmt.Errorf("look up global script %s: %w", want.Name, err)
	}
	if len(have) == 0 {
		var id string
		if !r.opts.DryRun {
			id, err = r.api.CreateScript(ctx, want)
			if err != nil {
				return "", fmt.Errorf("create global script %s: %w", want.Name, err)
			}
		}
		r.rep.add(Created, "script", want.Name, want.Command)
		return id, nil
	}
	cur := have[0]
	want.ScriptID = cur.ScriptID
	var diffs []string
	for _, d := range []struct {
		field      string
		have, want any
	}{
		{"command", cur.Command, want.Command},
		{"description", cur.Description, want.Description},
		{"type", cur.Type, want.Type},
		{"scope", cur.Scope, want.Scope},
		{"execute_on", cur.ExecuteOn, want.ExecuteOn},
		{"host group", cur.GroupID, want.GroupID},
	} {
		if d.have != d.want {
			diffs = append(diffs, fmt.Sprintf("%s %v -> %v", d.field, quoteIfString(d.have), quoteIfString(d.want)))
		}
	}
	if len(diffs) == 0 {
		r.rep.add(Unchanged, "script", want.Name, "")
		return cur.ScriptID, nil
	}
	if !r.opts.DryRun {
		if err := r.api.UpdateScript(ctx, want); err != nil {
			return "", fmt.Errorf("update global script %s (%s): %w", want.Name, strings.Join(diffs, "; "), err)
		}
	}
	r.rep.add(Updated, "script", want.Name, strings.Join(diffs, "; "))
	return cur.ScriptID, nil
}

func quoteIfString(v any) any {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return v
}

// wantAction is the action that runs spec's script on spec's standby host for problems
// tagged vcrcovery=<spec.Tag> and standby=<its name>, from a host of this inventory
// (vcr.inventory=<prefix>, inherited from the host), that are not suppressed (a host in
// maintenance suppresses its problems: no automatic recovery or migration then).
func (r *runner) wantAction(spec actionSpec) zabbix.Action {
	return zabbix.Action{
		Name:        spec.Name,
		EventSource: zabbix.EventSourceTrigger,
		Status:      zabbix.ActionEnabled,
		Filter: zabbix.ActionFilter{
			EvalType: zabbix.EvalAnd,
			Conditions: []zabbix.Condition{
				{ConditionType: zabbix.CondEventTagValue, Operator: zabbix.CondOpEqual, Value2: "vcrcovery", Value: spec.Tag},
				{ConditionType: zabbix.CondEventTagValue, Operator: zabbix.CondOpEqual, Value2: "standby", Value: spec.Standby},
				{ConditionType: zabbix.CondEventTagValue, Operator: zabbix.CondOpEqual, Value2: TagInventory, Value: r.plan.Names.Prefix},
				{ConditionType: zabbix.CondSuppressed, Operator: zabbix.CondOpNo},
			},
		},
		Operations: []zabbix.Operation{{
			OperationType: zabbix.OperationRemoteShell,
			OpCommand:     zabbix.OpCommand{ScriptID: r.scriptIDs[spec.Script]},
			OpCommandHst:  []zabbix.OpHost{{HostID: r.hostIDs[spec.Host]}},
		}},
	}
}

// actionShape is what an action does, comparable across API answers.
func actionShape(a zabbix.Action) string {
	var conds []string
	for _, c := range a.Filter.Conditions {
		conds = append(conds, fmt.Sprintf("%d/%d/%q/%q", c.ConditionType, c.Operator, c.Value2, c.Value))
	}
	sort.Strings(conds)
	var ops []string
	for _, o := range a.Operations {
		var hosts []string
		for _, h := range o.OpCommandHst {
			hosts = append(hosts, h.HostID)
		}
		sort.Strings(hosts)
		ops = append(ops, fmt.Sprintf("%d/script %s/hosts %s", o.OperationType, o.OpCommand.ScriptID, strings.Join(hosts, ",")))
	}
	sort.Strings(ops)
	return fmt.Sprintf("source %d; eval %d; conditions %s; operations %s",
		a.EventSource, a.Filter.EvalType, strings.Join(conds, " "), strings.Join(ops, " "))
}

// actions creates or updates the recover and the migrate action of each standby.
func (r *runner) actions(ctx context.Context) error {
	for _, spec := range r.plan.Actions {
		want := r.wantAction(spec)
		have, err := r.api.ActionsByName(ctx, spec.Name)
		if err != nil {
			return fmt.Errorf("look up action %s: %w", spec.Name, err)
		}
		detail := fmt.Sprintf("runs %s on host %s for problems tagged vcrcovery=%s, standby=%s", spec.Script, spec.Host, spec.Tag, spec.Standby)
		if len(have) == 0 {
			if !r.opts.DryRun {
				if _, err := r.api.CreateAction(ctx, want); err != nil {
					return fmt.Errorf("create action %s: %w", spec.Name, r.explainAction(err))
				}
			}
			r.rep.add(Created, "action", spec.Name, detail)
			continue
		}
		cur := have[0]
		note := ""
		if cur.Status == zabbix.ActionDisabled {
			note = " (disabled in Zabbix: left disabled)"
		}
		if actionShape(cur) == actionShape(want) {
			r.rep.add(Unchanged, "action", spec.Name, strings.TrimPrefix(note, " "))
			continue
		}
		want.ActionID = cur.ActionID
		if !r.opts.DryRun {
			if err := r.api.UpdateAction(ctx, want); err != nil {
				return fmt.Errorf("update action %s: %w", spec.Name, r.explainAction(err))
			}
		}
		r.rep.add(Updated, "action", spec.Name, detail+note)
	}
	return nil
}

// explainAction adds a hint to the API's terse refusal of a remote command on a host
// the script may not run on.
func (r *runner) explainAction(err error) error {
	var apiErr *zabbix.APIError
	if errors.As(err, &apiErr) && strings.Contains(apiErr.Data, "host group") {
		return fmt.Errorf("%w (the script may only run on hosts of group %s)", err, r.plan.Names.GroupStandbys())
	}
	return err
}
