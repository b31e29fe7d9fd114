package provision

import (
	"context"
	"fmt"
	"strings"

	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// prune deletes what this inventory owns in Zabbix but no longer wants: the actions of
// standbys and the fast-path scripts of services that left the inventory, and the hosts
// tagged vcr.inventory=<prefix> that no entry names any more. Ownership is read from
// the names and the tag alone: an object of another prefix, or made by hand, is never
// a candidate. The shared templates and this inventory's host groups are kept.
func (r *runner) prune(ctx context.Context) error {
	n := r.plan.Names
	wantAction := map[string]bool{}
	for _, a := range r.plan.Actions {
		wantAction[a.Name] = true
	}
	for _, kind := range []struct{ prefix, what string }{
		{n.RecoverAction(""), "recover"}, {n.MigrateAction(""), "migrate"},
	} {
		have, err := r.api.ActionsByNamePrefix(ctx, kind.prefix)
		if err != nil {
			return fmt.Errorf("prune: look up actions %s*: %w", kind.prefix, err)
		}
		for _, a := range have {
			standby, ok := ownWord(a.Name, kind.prefix)
			if !ok || wantAction[a.Name] {
				continue
			}
			if err := r.delete(ctx, "action", a.Name, a.ActionID,
				fmt.Sprintf("the %s action of standby %s, which the inventory no longer has", kind.what, standby)); err != nil {
				return err
			}
		}
	}

	wantScript := map[string]bool{}
	for _, s := range r.plan.FastPath {
		wantScript[s.Name] = true
	}
	prefix := n.FastPath("")
	scripts, err := r.api.ScriptsByNamePrefix(ctx, prefix)
	if err != nil {
		return fmt.Errorf("prune: look up scripts %s*: %w", prefix, err)
	}
	for _, s := range scripts {
		service, ok := ownWord(s.Name, prefix)
		if !ok || s.Scope != zabbix.ScriptScopeHost || wantScript[s.Name] {
			continue
		}
		if err := r.delete(ctx, "script", s.Name, s.ScriptID,
			"the fast-path script of service "+service+", which the inventory no longer has (or no longer has fast_path)"); err != nil {
			return err
		}
	}

	wantHost := map[string]bool{}
	for _, h := range r.plan.Hosts {
		wantHost[h.Name] = true
	}
	hosts, err := r.api.HostsByTag(ctx, zabbix.Tag{Tag: TagInventory, Value: n.Prefix})
	if err != nil {
		return fmt.Errorf("prune: look up hosts tagged %s=%s: %w", TagInventory, n.Prefix, err)
	}
	for _, h := range hosts {
		if wantHost[h.Host] {
			continue
		}
		// A host another inventory also claims stays: deleting it would take that
		// inventory's object (and its history) with it.
		if other := otherInventory(h.Tags, n.Prefix); other != "" {
			r.rep.add(Unchanged, "host", h.Host, fmt.Sprintf("not pruned: inventory %s also has it (tag %s=%s)", other, TagInventory, other))
			continue
		}
		if err := r.delete(ctx, "host", h.Host, h.HostID, "no entry of the inventory names it any more; its items and history go with it"); err != nil {
			return err
		}
	}
	return nil
}

// delete removes one object (or, in a dry run, says it would).
func (r *runner) delete(ctx context.Context, kind, name, id, why string) error {
	if !r.opts.DryRun {
		if err := r.api.Delete(ctx, kind, id); err != nil {
			return fmt.Errorf("prune: delete %s %s: %w", kind, name, err)
		}
	}
	r.rep.add(Deleted, kind, name, why)
	return nil
}

// ownWord is what follows prefix in name when it is one word (a standbys[] or
// services[] name has no spaces); a longer rest is not an object of this shape.
func ownWord(name, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	return rest, ok && rest != "" && !strings.ContainsAny(rest, " \t")
}

// otherInventory is the first vcr.inventory tag value other than prefix, or "".
func otherInventory(tags []zabbix.Tag, prefix string) string {
	for _, t := range tags {
		if t.Tag == TagInventory && t.Value != prefix {
			return t.Value
		}
	}
	return ""
}
