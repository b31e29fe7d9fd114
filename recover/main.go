// Command vcr-recover recovers a service into its standby LXD container and switches
// its DNS name there, exactly once (shared/DESIGN.md). A Zabbix action runs it through
// scripts/zabbix-recover; on-call staff run it by hand.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/datasync"
	"github.com/vcrcovery/vcrcovery/internal/drill"
	"github.com/vcrcovery/vcrcovery/internal/recovery"
)

var (
	service, event, standby     string
	dryRun, asJSON, force, back bool
	syncData, drillTest         bool
	lockWait, deadline          time.Duration
	fenceWait                   time.Duration
)

// eventRE: Zabbix event IDs are decimal numbers; anything else in that argument is a
// broken macro or an injection attempt.
var eventRE = regexp.MustCompile(`^[0-9]{1,20}$`)

var program = cli.Program{
	Name:     "vcr-recover",
	Synopsis: "vcr-recover [-config PATH] -service NAME [-event ID] [-dry-run] [-json] [-force] [-failback]\n       vcr-recover [-config PATH] -sync [-service NAME | -standby NAME] [-force] [-json]\n       vcr-recover [-config PATH] -test (-service NAME | -standby NAME) [-json]",
	About: `Recovers a service into its standby LXD container and switches its DNS name:
lock, fence (is the primary really down?), start the container (warm: running
already; cold: created from its backup), run hooks, probe the service port, then a
TSIG-signed DNS compare-and-set from the primary's address to the container's, so that
of several recoverers exactly one switches the name. Reports to Zabbix.
-failback returns the name to the repaired primary: first the service's failback
hooks in the container (quiesce, reverse sync, verify), then the DNS switch back.
-sync runs the due sync commands of the services (of one standby, or one service),
never towards a recovered container, and reports the standby data's age to Zabbix.
-test is a drill (test failover) that never touches DNS or the primary: a warm
container must run, pass its test hooks and answer on its probe ports; a cold
standby's backup is started as a scratch instance NAME-drill-XXXXXX, hooked, probed,
timed and deleted (also when interrupted). Reports vcr.drill.* to Zabbix.`,
	ExitCodes: cli.ExitCodesHelp + `  9  a data step failed, nothing switched: a -failback hook (quiesce, reverse sync,
     verify; the name stays on the container), or with -sync a sync or backup check
A drill (-test) exits with the highest code of its services: 0 ready, 3 another run
holds the service's lock (no drill), 4 not ready at the container, create (the
backup), hook or address step, or a scratch instance left behind, 5 not ready at the
probe, 1 interrupted (the scratch instance removed, nothing reported to Zabbix).
The Zabbix API is optional: when it cannot be reached the run goes on without its
evidence and without the event acknowledgement (logged). A run whose result could not
be saved in state_dir keeps its exit code; its report and log carry a warning.
`,
	Flags: func(fs *flag.FlagSet) {
		fs.StringVar(&service, "service", "", "service `name` from the inventory (required)")
		fs.StringVar(&event, "event", "", "Zabbix event `ID` that started the run: acknowledged, and a repeat is a no-op")
		fs.BoolVar(&dryRun, "dry-run", false, "print the plan and the current state, change nothing")
		fs.BoolVar(&asJSON, "json", false, "print the report (result, per-step seconds) as JSON on stdout")
		fs.BoolVar(&force, "force", false, "recover even if fencing or maintenance refuses; with -sync: also the syncs not due yet")
		fs.BoolVar(&back, "failback", false, "run the failback hooks, switch the name back to the primary (it must serve), stop a cold container")
		fs.BoolVar(&drillTest, "test", false, "drill -service, or every service of -standby: bring its standby up without touching DNS or the primary, report readiness")
		fs.BoolVar(&syncData, "sync", false, "run the due syncs (with -force: all) of -service, of -standby's services, or of every service; exit 9 if one failed")
		fs.StringVar(&standby, "standby", "", "with -sync or -test: the services whose standby.host is `name`")
		fs.DurationVar(&lockWait, "lock-wait", 60*time.Second, "how long to wait for a concurrent run of the same service")
		fs.DurationVar(&fenceWait, "fence-wait", 0, "how long to wait for evidence that the primary is down while its port is silent (default: the inventory's fence.evidence_wait)")
		fs.DurationVar(&deadline, "timeout", 5*time.Minute, "deadline of the whole run")
	},
	Main: run,
}

func main() { os.Exit(cli.Run(program, os.Args[1:], os.Stdout, os.Stderr)) }

func run(env cli.Env) int {
	if syncData {
		return runSync(env)
	}
	if drillTest {
		return runDrill(env)
	}
	if service == "" {
		fmt.Fprintln(env.Stderr, "vcr-recover: -service is required")
		return cli.ExitUsage
	}
	svc, err := env.Inventory.ProtectedService(service)
	if err != nil {
		fmt.Fprintf(env.Stderr, "vcr-recover: %v\n", err)
		return cli.ExitUsage
	}
	if event != "" && !eventRE.MatchString(event) {
		fmt.Fprintf(env.Stderr, "vcr-recover: -event must be a Zabbix event ID (digits), got %q\n", event)
		return cli.ExitUsage
	}
	ctx, cancel := runContext()
	defer cancel()

	r, err := recovery.Wire(ctx, env.Inventory, svc, env.Log)
	if err != nil {
		env.Log.Error("cannot prepare the run", "service", svc.Name, "err", err)
		return cli.ExitCode(err, cli.ExitRuntime)
	}
	defer r.Close(context.Background())
	r.Event, r.DryRun, r.Force, r.Failback, r.LockWait, r.FenceWait = event, dryRun, force, back, lockWait, fenceWait
	rep := r.Execute(ctx)
	switch {
	case asJSON:
		writeJSON(env.Stdout, rep)
	case dryRun:
		fmt.Fprintf(env.Stdout, "vcr-recover -dry-run: %s of %s would:\n", rep.Action, rep.Service)
		for i, p := range rep.Plan {
			fmt.Fprintf(env.Stdout, "  %d. %s\n", i+1, p)
		}
	default:
		fmt.Fprintf(env.Stdout, "%s %s: %s (exit %d) in %.3f s: %s\n", rep.Action, rep.Service, rep.Result, rep.ExitCode, rep.Seconds, rep.Message)
	}
	return rep.ExitCode
}

// runSync is -sync: every watched service of the selection, one after the other.
func runSync(env cli.Env) int {
	if back || event != "" || dryRun {
		fmt.Fprintln(env.Stderr, "vcr-recover: -sync takes no -failback, -event or -dry-run")
		return cli.ExitUsage
	}
	var svcs []*config.Service
	for i := range env.Inventory.Services {
		s := &env.Inventory.Services[i]
		if (service == "" || s.Name == service) && (standby == "" || s.Standby.Host == standby) && datasync.Watched(s) {
			svcs = append(svcs, s)
		}
	}
	if len(svcs) == 0 {
		fmt.Fprintf(env.Stderr, "vcr-recover: -sync: no service with a sync or a watched backup (service %q, standby %q)\n", service, standby)
		return cli.ExitUsage
	}
	ctx, cancel := runContext()
	defer cancel()
	r := datasync.Wire(env.Inventory, env.Log)
	r.Force = force
	outs := r.Run(ctx, svcs)
	code := cli.ExitOK
	for _, o := range outs {
		if o.Failed() {
			code = cli.ExitData
		}
		if !asJSON {
			fmt.Fprintf(env.Stdout, "sync %s: %s: %s\n", o.Service, o.Result, o.Message)
		}
	}
	if asJSON {
		writeJSON(env.Stdout, outs)
	}
	return code
}

// runDrill is -test: the drills of -service, or of every service of -standby.
func runDrill(env cli.Env) int {
	if back || event != "" || dryRun || force || (service == "") == (standby == "") {
		fmt.Fprintln(env.Stderr, "vcr-recover: -test takes exactly one of -service and -standby, and no -failback, -event, -dry-run or -force")
		return cli.ExitUsage
	}
	var svcs []*config.Service
	if service != "" {
		svc, err := env.Inventory.ProtectedService(service)
		if err != nil {
			fmt.Fprintf(env.Stderr, "vcr-recover: %v\n", err)
			return cli.ExitUsage
		}
		svcs = append(svcs, svc)
	}
	for i := range env.Inventory.Services {
		if s := &env.Inventory.Services[i]; standby != "" && s.Standby.Host == standby {
			svcs = append(svcs, s)
		}
	}
	if len(svcs) == 0 {
		fmt.Fprintf(env.Stderr, "vcr-recover: -test: no service has standby %q\n", standby)
		return cli.ExitUsage
	}
	ctx, cancel := runContext()
	defer cancel()
	reps, code := drill.All(ctx, env.Inventory, svcs, env.Log)
	if asJSON {
		writeJSON(env.Stdout, reps)
		return code
	}
	for _, r := range reps {
		fmt.Fprintf(env.Stdout, "drill %s (%s): %s (exit %d) in %.3f s: %s\n", r.Service, r.Mode, r.Result, r.ExitCode, r.TotalSeconds, r.Message)
	}
	return code
}

// runContext is a run's context: it ends at SIGINT or SIGTERM (the Zabbix agent's
// timeout, an operator's ^C) or after -timeout.
func runContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, deadline)
	return ctx, func() { cancel(); stop() }
}

// writeJSON prints v as -json's indented JSON.
func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
