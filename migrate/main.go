// Command vcr-migrate moves a service's standby container to another standby LXD server
// with a short downtime, and its DNS name with it (shared/DESIGN.md): copy while it
// runs, refresh, then freeze, final refresh, start, probe, DNS compare-and-set.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/migration"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

var (
	service, to, stop     string
	keep, dryRun, asJSON  bool
	auto                  bool
	event                 string
	cooldown              time.Duration
	stopTimeout, lockWait time.Duration
	deadline, deltaTime   time.Duration
	maxRefreshes          int
	pool, plan            bool
	poolHost              string
)

var program = cli.Program{
	Name:     "vcr-migrate",
	Synopsis: "vcr-migrate [-config PATH] -service NAME -to STANDBY [-keep-source] [-dry-run] [-json] [-stop freeze|force|graceful]\n       vcr-migrate [-config PATH] -auto [-event ID] [-dry-run] [-json]",
	About: `Moves a service's container to another standby LXD server (a bigger VM) with a
short downtime: it copies the running container server to server without freezing
it, refreshes the copy until the delta is small, then takes the service's lock (the one
vcr-recover takes: a recovery never waits behind a copy), checks that nothing changed
meanwhile (else refuses, exit 3), freezes the source, sends the last delta, starts the
target, runs the hooks, probes the ports and switches the DNS name with the same TSIG
compare-and-set as vcr-recover (only if the name points at the source: a standby that
does not serve moves without touching DNS). Any failure before the switch thaws the
source and removes the copy. The source is then deleted, or kept stopped with
-keep-source. A NIC on a network the target lacks is attached to the target's
standbys[].network. Where a container runs is asked of the LXD servers, so
vcr-recover and a second vcr-migrate find it after a move.

-auto reads every standby's load from LXD (server resources, each running container's
CPU and memory use) against standbys[].capacity, max_cpu_percent and
max_memory_percent, and moves inventory services off overloaded standbys (the cheapest
move that brings one under, else the best relief per byte) to the standby with the
most headroom that stays under its thresholds; a service moved in the last -cooldown is
not moved again. -dry-run prints the plan.

-pool -plan prints the cooperative pool as etcd and the SHA-1 ring see it (read only):
per pooled service its owner, the owner the ring would pick, its replicas in takeover
order, which live replicas hold the latest committed snapshot and its age, and what the
failure of each live host would do (who takes over, where a new replica goes). It exits
0 when printed, 1 when etcd does not answer, 2 without a pool section.

-pool -host NAME is the pool agent, a daemon on each pool host (NAME: its standbys
entry, which has a weight): it keeps the host's etcd lease, and for each pooled service
it owns it keeps the container running, snapshots it every pool.snapshot_period,
refreshes the snapshot onto the replica hosts the SHA-1 ring gives, and commits it in
etcd once every copy was checked there (keeping pool.keep). When an owner's lease
expires, the first live holder of the latest committed snapshot in ring order claims
the service (an etcd transaction: one wins), stops every other copy it can reach,
checks the last owner's address is silent, restores the snapshot, starts it, probes it
and moves the DNS name with the compare-and-set. While etcd does not answer nothing is
taken over and owners keep serving. SIGTERM steps down: a final snapshot of each owned
container, stopped, then the lease is revoked so a replica takes over at once. It
exits 0 after a step-down, 1 when etcd or its own LXD server cannot be reached at
start, 2 when NAME is not a pool host or the inventory has no pool section.`,
	ExitCodes: cli.MigrateExitCodesHelp,
	Flags: func(fs *flag.FlagSet) {
		fs.StringVar(&service, "service", "", "service `name` from the inventory (required without -auto)")
		fs.BoolVar(&auto, "auto", false, "move services off overloaded standbys, by the inventory's thresholds")
		fs.StringVar(&event, "event", "", "Zabbix event `ID` that started an -auto run: acknowledged with what the run did (moves made, or why none)")
		fs.DurationVar(&cooldown, "cooldown", 30*time.Minute, "-auto: never move a service again within this")
		fs.StringVar(&to, "to", "", "target `standby` name from the inventory (required without -auto)")
		fs.BoolVar(&keep, "keep-source", false, "keep the source container, stopped, instead of deleting it")
		fs.BoolVar(&dryRun, "dry-run", false, "run the read-only checks, print the plan, change nothing")
		fs.BoolVar(&asJSON, "json", false, "print the report (result, per-step seconds, downtime) as JSON on stdout")
		fs.StringVar(&stop, "stop", migration.StopFreeze, "how the cut-over takes the source out of service: freeze (milliseconds; the default), force (kill, about 0.65 s) or graceful (clean shutdown up to -stop-timeout, then force)")
		fs.DurationVar(&stopTimeout, "stop-timeout", 10*time.Second, "graceful stop budget (-stop graceful)")
		fs.IntVar(&maxRefreshes, "max-refreshes", 3, "refreshes while it runs before the cut-over, at most")
		fs.DurationVar(&deltaTime, "delta-time", time.Second, "stop refreshing once a refresh takes less than this")
		fs.DurationVar(&lockWait, "lock-wait", 5*time.Second, "how long to wait for a recovery or migration of the same service before refusing")
		fs.DurationVar(&deadline, "timeout", 30*time.Minute, "deadline of the whole run")
		fs.BoolVar(&pool, "pool", false, "the cooperative pool (with -plan: print its state and what a host failure would do)")
		fs.BoolVar(&plan, "plan", false, "with -pool: print the pool's plan, change nothing")
		fs.StringVar(&poolHost, "host", "", "with -pool: run the pool agent of this pool `host` (a standbys entry with a weight)")
	},
	Main: run,
}

func main() { os.Exit(cli.Run(program, os.Args[1:], os.Stdout, os.Stderr)) }

func run(env cli.Env) int {
	inv := env.Inventory
	if pool || plan || poolHost != "" {
		return runPool(env)
	}
	var svc *config.Service
	switch {
	case auto && (service != "" || to != ""):
		fmt.Fprintln(env.Stderr, "vcr-migrate: -auto chooses the services and targets itself: no -service or -to")
		return cli.ExitUsage
	case auto && event != "" && !eventRE.MatchString(event):
		fmt.Fprintf(env.Stderr, "vcr-migrate: -event must be a Zabbix event ID (digits), got %q\n", event)
		return cli.ExitUsage
	case auto:
	case service == "" || to == "":
		fmt.Fprintln(env.Stderr, "vcr-migrate: -service and -to are required (or -auto)")
		return cli.ExitUsage
	default:
		var err error
		if svc, err = inv.ProtectedService(service); err != nil {
			fmt.Fprintf(env.Stderr, "vcr-migrate: %v\n", err)
			return cli.ExitUsage
		}
		if _, ok := inv.Standby(to); !ok {
			var names []string
			for _, s := range inv.Standbys {
				names = append(names, s.Name)
			}
			fmt.Fprintf(env.Stderr, "vcr-migrate: no standby %q in the inventory (have: %s)\n", to, strings.Join(names, ", "))
			return cli.ExitUsage
		}
	}
	switch stop {
	case migration.StopFreeze, migration.StopForce, migration.StopGraceful:
	default:
		fmt.Fprintf(env.Stderr, "vcr-migrate: -stop must be freeze, force or graceful, got %q\n", stop)
		return cli.ExitUsage
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelRun := context.WithTimeout(ctx, deadline)
	defer cancelRun()

	m, err := migration.Wire(ctx, inv, env.Log)
	if err != nil {
		env.Log.Error("cannot prepare the move", "service", svc.Name, "err", err)
		return cli.ExitUsage
	}
	defer m.Close(context.Background())
	m.KeepSource, m.DryRun, m.Stop, m.StopTimeout = keep, dryRun, stop, stopTimeout
	m.LockWait, m.MaxRefreshes, m.DeltaTime = lockWait, maxRefreshes, deltaTime
	if isTerminal(os.Stderr) {
		last := ""
		m.Progress = func(phase, text string) {
			switch {
			case text == "": // the phase ended: clear the line for the log
				fmt.Fprint(env.Stderr, "\r\033[K")
			case text != last:
				fmt.Fprintf(env.Stderr, "\r\033[K%s: %s", phase, text)
			}
			last = text
		}
	}
	if auto {
		return runAuto(ctx, env, m)
	}
	rep := m.For(svc, to).Execute(ctx)
	if asJSON {
		writeJSON(env, rep)
	} else {
		rep.WriteText(env.Stdout)
	}
	return rep.ExitCode
}

func runAuto(ctx context.Context, env cli.Env, m *migration.Move) int {
	inv := env.Inventory
	a := &migration.Auto{Inventory: inv, Event: event, DryRun: dryRun, Cooldown: cooldown, Base: m, Log: env.Log,
		Sender: &zabbix.Sender{Addr: inv.Zabbix.Server.String(), Timeout: inv.Zabbix.Timeout}}
	rep := a.Execute(ctx)
	if asJSON {
		writeJSON(env, rep)
	} else {
		rep.WriteText(env.Stdout)
	}
	return rep.ExitCode
}

func writeJSON(env cli.Env, v any) {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// eventRE: Zabbix event IDs are decimal numbers; anything else is a broken macro or an
// injection attempt.
var eventRE = regexp.MustCompile(`^[0-9]{1,20}$`)

// isTerminal: progress lines with carriage returns only on a terminal; a log file or
// a Zabbix action gets one log line per step.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
