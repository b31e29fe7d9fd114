// Package provision makes a Zabbix 6.0 server ready for vcrcovery, from the inventory:
// it imports the templates (zabbix-templates/), creates the host groups and the hosts
// of the hypervisors, the protected VMs and the standby VMs, the global script that
// runs scripts/zabbix-recover, and one action per standby that runs it there when a
// VM of a service protected by that standby is shut off, crashed or hung; and the
// global script that runs scripts/zabbix-migrate, with one action per standby that
// runs it there when that standby is overloaded.
//
// Run is idempotent: it compares before it writes (configuration.importcompare for
// templates, field by field for the rest), so a second run changes nothing and its
// Report says so. It only adds to what operators configured by hand: it never unlinks
// a template, removes a group or tag from a host, or re-enables a disabled action.
// zabbix-templates/README.md is the user documentation.
package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// DefaultRecoverCommand is where scripts/zabbix-recover is installed on standby VMs.
const DefaultRecoverCommand = "/usr/local/bin/vcr-zabbix-recover"

// DefaultMigrateCommand is where scripts/zabbix-migrate is installed on standby VMs.
const DefaultMigrateCommand = "/usr/local/bin/vcr-zabbix-migrate"

// Names are the names of the objects one inventory owns in Zabbix, each starting with
// its zabbix.prefix (one word: an object's first word names its inventory). Two
// inventories with different prefixes share only the templates, which are the same for
// every inventory. trapd finds the fast-path scripts and the templates' group checks
// the default groups by these names; operators find the scripts and actions by them.
type Names struct{ Prefix string }

// NamesFor is the names of inv's objects.
func NamesFor(inv *config.Inventory) Names { return Names{inv.Zabbix.NamePrefix()} }

// Host groups of the inventory's hypervisors, protected VMs, standby VMs and pooled services.
func (n Names) GroupHypervisors() string { return n.Prefix + " hypervisors" }
func (n Names) GroupVMs() string         { return n.Prefix + " VMs" }
func (n Names) GroupStandbys() string    { return n.Prefix + " standbys" }
func (n Names) GroupPooled() string      { return n.Prefix + " pooled services" }

// RecoverScript runs scripts/zabbix-recover; RecoverAction(standby) runs it on that standby.
func (n Names) RecoverScript() string               { return n.Prefix + " recover" }
func (n Names) RecoverAction(standby string) string { return n.Prefix + " recover on " + standby }

// MigrateScript runs vcr-migrate -auto for an overloaded standby's problem;
// MigrateAction(standby) runs it on that standby.
func (n Names) MigrateScript() string               { return n.Prefix + " migrate auto" }
func (n Names) MigrateAction(standby string) string { return n.Prefix + " migrate on " + standby }

// FastPath is the manual script trapd's fast path runs for service.
func (n Names) FastPath(service string) string { return zabbix.FastPathScript(n.Prefix, service) }

// Options configure Run beyond the inventory.
type Options struct {
	// RecoverCommand is the path of scripts/zabbix-recover on the standby VMs (default
	// DefaultRecoverCommand). The global script runs it with the problem's service
	// tag, event ID and trigger ID as three single-quoted arguments.
	RecoverCommand string
	// MigrateCommand is the path of scripts/zabbix-migrate on the standby VMs (default
	// DefaultMigrateCommand). The global script "vcrcovery migrate auto" runs it with
	// the problem's event ID as one single-quoted argument.
	MigrateCommand string
	// StandbyAgents maps a standbys[].name to the host:port of the Zabbix agent on that
	// standby VM. A standby not listed gets an agent interface at its Zabbix host name
	// (a DNS name), port 10050.
	StandbyAgents map[string]string
	// TrapdHost is the Zabbix host that gets template "vcrcovery trapd" (vcr-trapd's
	// health counters); CloudHost gets "vcrcovery cloud" (whole-group checks). Default
	// for both: the first standby's Zabbix host. A host outside the inventory must
	// exist in Zabbix already.
	TrapdHost string
	CloudHost string
	// Sender, when set, sends each standby host the list of its services
	// (vcr.service.discovery), so that vcr-recover's result items exist before the
	// first recovery.
	Sender *zabbix.Sender
	// DryRun reports what would change and changes nothing.
	DryRun bool
	// Prune deletes this inventory's objects (its prefix's actions and fast-path
	// scripts, hosts tagged vcr.inventory=PREFIX) that no standby, service or other
	// entry of the inventory wants any more; with DryRun it lists them.
	Prune bool
}

// Verb says what Run did (or, with DryRun, would do) to one object.
type Verb string

// Verbs of a Change.
const (
	Created   Verb = "created"
	Updated   Verb = "updated"
	Unchanged Verb = "unchanged"
	// Sent: a discovery value was accepted by the trapper (not a configuration change).
	Sent Verb = "sent"
	// Pending: the trapper did not accept a discovery value yet (see Change.Detail).
	Pending Verb = "pending"
	// Deleted: -prune removed an object of this inventory that it no longer has.
	Deleted Verb = "deleted"
)

// Change is one line of a Report.
type Change struct {
	Verb Verb
	// Kind is template, host group, host, script, action or discovery.
	Kind string
	Name string
	// Detail says what differed, or why something is pending.
	Detail string
}

// Report lists what Run did, in order.
type Report struct {
	DryRun  bool
	Changes []Change
}

func (r *Report) add(v Verb, kind, name, detail string) {
	r.Changes = append(r.Changes, Change{Verb: v, Kind: kind, Name: name, Detail: detail})
}

// Count returns how many changes have verb v.
func (r *Report) Count(v Verb) int {
	n := 0
	for _, c := range r.Changes {
		if c.Verb == v {
			n++
		}
	}
	return n
}

// Changed reports whether Run created, updated or deleted anything.
func (r *Report) Changed() bool { return r.Count(Created)+r.Count(Updated)+r.Count(Deleted) > 0 }

// Write prints one line per change and a summary.
func (r *Report) Write(w io.Writer) {
	would := ""
	if r.DryRun {
		would = "would be "
	}
	for _, c := range r.Changes {
		verb := string(c.Verb)
		if r.DryRun && (c.Verb == Created || c.Verb == Updated || c.Verb == Deleted) {
			verb = "would be " + verb
		}
		line := fmt.Sprintf("%-*s %-10s %s", verbWidth(r.DryRun), verb, c.Kind, c.Name)
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		fmt.Fprintln(w, line)
	}
	if !r.Changed() {
		fmt.Fprintf(w, "nothing to change: %d unchanged\n", r.Count(Unchanged))
		return
	}
	fmt.Fprintf(w, "%d %screated, %d %supdated, %d unchanged",
		r.Count(Created), would, r.Count(Updated), would, r.Count(Unchanged))
	if n := r.Count(Deleted); n > 0 {
		fmt.Fprintf(w, ", %d %sdeleted", n, would)
	}
	fmt.Fprintln(w)
	if !r.DryRun {
		fmt.Fprintln(w, "The Zabbix server uses new hosts, items and actions after its next configuration cache "+
			"reload (CacheUpdateFrequency, 60 s by default; `zabbix_server -R config_cache_reload` does it now).")
	}
}

func verbWidth(dryRun bool) int {
	if dryRun {
		return len("would be created")
	}
	return len("unchanged")
}

// Connect logs in to the inventory's Zabbix API; provisioning cannot work without it.
func Connect(ctx context.Context, z config.Zabbix) (*zabbix.API, error) {
	if z.APIURL == "" {
		// An inventory error, not a Zabbix failure (exit 2, not 1).
		return nil, fmt.Errorf("%w: zabbix.api_url: provisioning needs the Zabbix API", ErrOptions)
	}
	return zabbix.Login(ctx, z)
}

// ErrOptions marks an error in Options (or in how they fit the inventory): a usage
// error, found before anything is sent to Zabbix.
var ErrOptions = errors.New("invalid provisioning options")

// Check verifies that opts fit inv, without talking to Zabbix. Its errors wrap
// ErrOptions.
func Check(inv *config.Inventory, opts Options) error {
	_, err := newPlan(inv, opts)
	return err
}

// Run provisions api's Zabbix for inv. On an error it returns the report of what was
// done so far and an error that names what was being done (wrapping ErrOptions when
// the options do not fit the inventory).
func Run(ctx context.Context, api *zabbix.API, inv *config.Inventory, opts Options) (*Report, error) {
	rep := &Report{DryRun: opts.DryRun}
	p, err := newPlan(inv, opts)
	if err != nil {
		return rep, err
	}
	r := &runner{api: api, opts: opts, plan: p, rep: rep}
	steps := []func(context.Context) error{r.templates, r.groups, r.hosts, r.script, r.actions}
	if opts.Prune {
		steps = append(steps, r.prune)
	}
	steps = append(steps, r.discovery)
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// runner carries one Run's state: the plan and the IDs learnt on the way.
type runner struct {
	api  *zabbix.API
	opts Options
	plan *plan
	rep  *Report

	groupIDs    map[string]string // host group name -> ID
	templateIDs map[string]string // template name -> ID
	hostIDs     map[string]string // host name -> ID
	scriptIDs   map[string]string // global script name -> ID ("" in a dry run that would create it)
}

// shellQuote quotes s for sh as one word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// recoverCommand is the global script's command: the wrapper and the event's macros,
// each a single-quoted word. Zabbix substitutes the macros without quoting; the LLD
// filter of the hypervisor template only lets service names of [a-z0-9_.-] into the
// service tag, and the wrapper checks every argument again.
func recoverCommand(path string) string {
	return shellQuote(path) + " '{EVENT.TAGS.service}' '{EVENT.ID}' '{TRIGGER.ID}'"
}

// migrateCommand is the migrate script's command: the wrapper and the event ID, each a
// single-quoted word (the wrapper checks that it is a number).
func migrateCommand(path string) string {
	return shellQuote(path) + " '{EVENT.ID}'"
}

// discoveryTimeout bounds the trapper send of the service lists.
const discoveryTimeout = 10 * time.Second
