package provision

import (
	"context"
	"fmt"
	"strings"

	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// groups creates the host groups that are missing.
func (r *runner) groups(ctx context.Context) error {
	have, err := r.api.HostGroupsByName(ctx, r.plan.Groups...)
	if err != nil {
		return fmt.Errorf("look up host groups: %w", err)
	}
	r.groupIDs = map[string]string{}
	for _, g := range have {
		r.groupIDs[g.Name] = g.GroupID
	}
	for _, name := range r.plan.Groups {
		if _, ok := r.groupIDs[name]; ok {
			r.rep.add(Unchanged, "host group", name, "")
			continue
		}
		if !r.opts.DryRun {
			id, err := r.api.CreateHostGroup(ctx, name)
			if err != nil {
				return fmt.Errorf("create host group %s: %w", name, err)
			}
			r.groupIDs[name] = id
		}
		r.rep.add(Created, "host group", name, "")
	}
	return nil
}

// hosts creates missing hosts and adds what existing ones lack.
func (r *runner) hosts(ctx context.Context) error {
	var tplNames, hostNames []string
	for _, t := range r.plan.Templates {
		tplNames = append(tplNames, t.Name)
	}
	for _, h := range r.plan.Hosts {
		hostNames = append(hostNames, h.Name)
	}
	tpls, err := r.api.TemplatesByName(ctx, tplNames...)
	if err != nil {
		return fmt.Errorf("look up templates: %w", err)
	}
	r.templateIDs = map[string]string{}
	for _, t := range tpls {
		r.templateIDs[t.Host] = t.TemplateID
	}
	existing, err := r.api.HostsByName(ctx, hostNames...)
	if err != nil {
		return fmt.Errorf("look up hosts: %w", err)
	}
	byName := map[string]*zabbix.Host{}
	for i := range existing {
		byName[existing[i].Host] = &existing[i]
	}
	r.hostIDs = map[string]string{}
	for _, spec := range r.plan.Hosts {
		h, ok := byName[spec.Name]
		if !ok {
			if err := r.createHost(ctx, spec); err != nil {
				return err
			}
			continue
		}
		r.hostIDs[spec.Name] = h.HostID
		if err := r.updateHost(ctx, spec, h); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) createHost(ctx context.Context, spec *hostSpec) error {
	if spec.External {
		return fmt.Errorf("%s %s: no such host in Zabbix: create it, or name one that exists", spec.Role, spec.Name)
	}
	detail := describeSpec(spec)
	if r.opts.DryRun {
		r.rep.add(Created, "host", spec.Name, detail)
		return nil
	}
	h := zabbix.Host{
		Host:        spec.Name,
		Description: "vcrcovery " + spec.Role + ". Created by vcr-provision.",
		Tags:        spec.Tags,
	}
	for _, g := range spec.Groups {
		h.Groups = append(h.Groups, zabbix.HostGroup{GroupID: r.groupIDs[g]})
	}
	for _, t := range spec.Templates {
		id, ok := r.templateIDs[t]
		if !ok {
			return fmt.Errorf("create host %s (%s): template %s is missing", spec.Name, spec.Role, t)
		}
		h.ParentTemplates = append(h.ParentTemplates, zabbix.TemplateRef{TemplateID: id})
	}
	if spec.Agent != nil {
		h.Interfaces = []zabbix.Interface{*spec.Agent}
	}
	h.Macros = spec.Macros
	id, err := r.api.CreateHost(ctx, h)
	if err != nil {
		return fmt.Errorf("create host %s (%s): %w", spec.Name, spec.Role, err)
	}
	r.hostIDs[spec.Name] = id
	r.rep.add(Created, "host", spec.Name, detail)
	return nil
}

func describeSpec(spec *hostSpec) string {
	parts := []string{spec.Role}
	if len(spec.Templates) > 0 {
		parts = append(parts, "templates "+strings.Join(spec.Templates, ", "))
	}
	if spec.Agent != nil {
		parts = append(parts, "agent "+addrOf(*spec.Agent))
	}
	return strings.Join(parts, "; ")
}

// updateHost adds the groups, templates and tags that h lacks and sets its agent
// interface; it removes nothing.
func (r *runner) updateHost(ctx context.Context, spec *hostSpec, h *zabbix.Host) error {
	var missing []string
	upd := *h
	for _, g := range spec.Groups {
		if !hasGroup(h.Groups, g) {
			missing = append(missing, "group "+g)
			upd.Groups = append(upd.Groups, zabbix.HostGroup{GroupID: r.groupIDs[g], Name: g})
		}
	}
	for _, t := range spec.Templates {
		if !hasTemplate(h.ParentTemplates, t) {
			id, ok := r.templateIDs[t]
			if !ok && !r.opts.DryRun {
				return fmt.Errorf("update host %s (%s): template %s is missing", spec.Name, spec.Role, t)
			}
			missing = append(missing, "template "+t)
			upd.ParentTemplates = append(upd.ParentTemplates, zabbix.TemplateRef{TemplateID: id, Host: t})
		}
	}
	for _, t := range spec.Tags {
		if !containsTag(h.Tags, t) {
			missing = append(missing, "tag "+t.Tag+"="+t.Value)
			upd.Tags = append(upd.Tags, t)
		}
	}
	if len(missing) > 0 && !r.opts.DryRun {
		if err := r.api.UpdateHost(ctx, upd); err != nil {
			return fmt.Errorf("update host %s (%s): add %s: %w", spec.Name, spec.Role, strings.Join(missing, ", "), err)
		}
	}
	for _, m := range spec.Macros {
		change, err := r.macro(ctx, spec, h, m)
		if err != nil {
			return err
		}
		if change != "" {
			missing = append(missing, change)
		}
	}
	if spec.Agent != nil {
		change, err := r.agentInterface(ctx, spec, h)
		if err != nil {
			return err
		}
		if change != "" {
			missing = append(missing, change)
		}
	}
	if len(missing) == 0 {
		r.rep.add(Unchanged, "host", spec.Name, "")
		return nil
	}
	r.rep.add(Updated, "host", spec.Name, strings.Join(missing, ", "))
	return nil
}

// agentInterface creates the host's main agent interface if it has none, and moves an
// existing one where spec says if the operator gave that address. It returns what it
// changed, or "".
func (r *runner) agentInterface(ctx context.Context, spec *hostSpec, h *zabbix.Host) (string, error) {
	want := *spec.Agent
	want.HostID = h.HostID
	for _, i := range h.Interfaces {
		if i.Type != zabbix.InterfaceAgent || i.Main != 1 {
			continue
		}
		if sameInterface(i, want) || !spec.AgentGiven {
			return "", nil
		}
		want.InterfaceID = i.InterfaceID
		change := fmt.Sprintf("agent interface %s -> %s", addrOf(i), addrOf(want))
		if !r.opts.DryRun {
			if err := r.api.UpdateInterface(ctx, want); err != nil {
				return "", fmt.Errorf("update host %s (%s): %s: %w", spec.Name, spec.Role, change, err)
			}
		}
		return change, nil
	}
	change := "agent interface " + addrOf(want)
	if !r.opts.DryRun {
		if err := r.api.CreateInterface(ctx, want); err != nil {
			return "", fmt.Errorf("update host %s (%s): add %s: %w", spec.Name, spec.Role, change, err)
		}
	}
	return change, nil
}

// macro gives the host want's macro with want's value, and returns what it changed, or "".
func (r *runner) macro(ctx context.Context, spec *hostSpec, h *zabbix.Host, want zabbix.Macro) (string, error) {
	want.HostID = h.HostID
	change := fmt.Sprintf("macro %s=%q", want.Macro, want.Value)
	for _, m := range h.Macros {
		if m.Macro != want.Macro {
			continue
		}
		if m.Value == want.Value {
			return "", nil
		}
		want.HostMacroID = m.HostMacroID
		change = fmt.Sprintf("macro %s %q -> %q", want.Macro, m.Value, want.Value)
	}
	if !r.opts.DryRun {
		if err := r.api.SetMacro(ctx, want); err != nil {
			return "", fmt.Errorf("update host %s (%s): %s: %w", spec.Name, spec.Role, change, err)
		}
	}
	return change, nil
}

func hasGroup(gs []zabbix.HostGroup, name string) bool {
	for _, g := range gs {
		if g.Name == name {
			return true
		}
	}
	return false
}

func hasTemplate(ts []zabbix.TemplateRef, name string) bool {
	for _, t := range ts {
		if t.Host == name {
			return true
		}
	}
	return false
}
