// Command vcr-sender samples each hypervisor's libvirt-snmp guest table (LIBVIRT-MIB)
// over SNMP and sends per-VM CPU %, state, vCPUs, memory and the guests' low-level
// discovery to Zabbix (shared/DESIGN.md, issue 5). It runs as a daemon (a round every
// -interval, on evenly spaced ticks) or from cron (-once, the previous sample in a
// state file). The work is in internal/sampling; sender/README.md documents it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/cpuusage"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor"
	"github.com/vcrcovery/vcrcovery/internal/sampler"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

var (
	once, align, print, noSend, compress bool
	statePath, spoolDir                  string
	spoolMax                             int64
	interval, maxGap, agentCache, fresh  time.Duration
	discoveryEvery, lockWait             time.Duration
	concurrency, maxRepetitions, rounds  int
	flags                                *flag.FlagSet // to tell a flag given from its default
)

var program = cli.Program{
	Name:     "vcr-sender",
	Synopsis: "vcr-sender [-config PATH] [-once [-align] [-state FILE]] [-interval 5s] [-print] [-no-send]",
	About: `Samples each hypervisor's libvirt-snmp guest table with GETBULK (name, state, vCPUs,
memory, CPU time), computes CPU % per VM from CpuTime deltas (ns / elapsed / vCPUs),
and sends CPU %, state, vCPUs, memory and the LLD discovery to each hypervisor's
Zabbix host. Without -once it is a daemon sampling every -interval; with -once it
takes one sample, comparing with the previous one kept in -state (cron mode).
Documentation: sender/README.md.`,
	ExitCodes: `Exit codes:
  0  done: the daemon stopped (SIGTERM, or -rounds done); -once: every hypervisor
     sampled (or skipped as too soon) and Zabbix took every value
  1  -once: a hypervisor could not be sampled, Zabbix refused or did not take
     values (or could not be reached: they are spooled), the state file or the
     spool could not be written, or another run kept it locked for -lock-wait;
     the daemon: its spool could not be opened
  2  usage or configuration error
`,
	Flags: func(fs *flag.FlagSet) {
		flags = fs
		fs.BoolVar(&once, "once", false, "take one sample and exit (cron mode; the previous sample is in -state)")
		fs.BoolVar(&align, "align", false, "with -once: wait for the next multiple of -interval before sampling")
		fs.StringVar(&statePath, "state", "", "with -once: state `file` (default <state_dir>/sender/state.json)")
		fs.DurationVar(&lockWait, "lock-wait", 0, "with -once: how long to wait for a run that holds the state file (default -interval)")
		fs.DurationVar(&interval, "interval", 0, "sampling interval, with -once the cron spacing, e.g. 1m (default: the inventory's sender.interval)")
		fs.DurationVar(&maxGap, "max-gap", 0, "longest gap a CPU % is still averaged over (default 4 intervals)")
		fs.DurationVar(&agentCache, "agent-cache", 5*time.Second, "how long the agents cache their table (libvirt-snmp: 5s; 0: no cache)")
		fs.DurationVar(&fresh, "fresh-wait", 0, "how long after its tick a sample may wait for a fresh table (default: the inventory's sender.fresh_wait, else -interval/4)")
		fs.DurationVar(&discoveryEvery, "discovery-every", 10*time.Minute, "resend the LLD discovery this often when it does not change")
		fs.IntVar(&concurrency, "concurrency", 0, "hypervisors sampled at once (default: the inventory's sender.concurrency)")
		fs.IntVar(&maxRepetitions, "max-repetitions", 25, "GETBULK rows per column per request")
		fs.IntVar(&rounds, "rounds", 0, "daemon: stop after this many rounds (0: run until SIGTERM)")
		fs.BoolVar(&print, "print", false, "print the values on stdout as zabbix_sender -T input lines")
		fs.BoolVar(&noSend, "no-send", false, "do not send to Zabbix (with -print: a dry run; -once still writes -state)")
		fs.StringVar(&spoolDir, "spool", "", "folder of the disk spool that keeps values while Zabbix is unreachable (default <state_dir>/sender/spool)")
		fs.Int64Var(&spoolMax, "spool-max", 64<<20, "spool size limit in `bytes`; past it the oldest values are dropped (0: no spool)")
		fs.BoolVar(&compress, "zlib", true, "compress the requests to Zabbix (server 4.0+); -zlib=false saves sender CPU on a fast network")
	},
	Main: run,
}

func main() { os.Exit(cli.Run(program, os.Args[1:], os.Stdout, os.Stderr)) }

func run(env cli.Env) int {
	inv := env.Inventory
	// The inventory's sender section describes the deployment; a flag given overrides it.
	given := map[string]bool{}
	flags.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["interval"] {
		interval = inv.Sender.Interval
	}
	if !given["fresh-wait"] {
		fresh = inv.Sender.FreshWait
	}
	if !given["concurrency"] {
		concurrency = inv.Sender.Concurrency
	}
	if interval <= 0 || concurrency <= 0 || (!noSend && inv.Zabbix.Server.IsZero()) {
		fmt.Fprintln(env.Stderr, "vcr-sender: -interval must be positive (and -concurrency), and zabbix.server set (or -no-send)")
		return cli.ExitUsage
	}
	clock, err := cpuusage.NewSystemClock()
	if err != nil {
		fmt.Fprintf(env.Stderr, "vcr-sender: %v\n", err)
		return cli.ExitRuntime
	}
	var sinks sampler.Tee
	var spooled *sampler.Spooled
	if !noSend {
		var zs sampler.Sink = &zabbix.Sender{Addr: inv.Zabbix.Server.String(), Timeout: inv.Zabbix.Timeout, Compress: compress, Retries: 1}
		if spoolMax > 0 {
			spooled = &sampler.Spooled{Next: zs, Log: env.Log}
			zs = spooled
		}
		sinks = append(sinks, zs)
	}
	if spoolDir == "" {
		spoolDir = filepath.Join(inv.StateDir, "sender", "spool")
	}
	if print {
		sinks = append(sinks, sampler.NewPrintSink(env.Stdout))
	}
	o := sampler.Options{
		Inventory: inv, Log: env.Log, Clock: clock, Sink: sinks,
		Policy:      cpuusage.Policy{Interval: interval, MaxGap: maxGap},
		Walk:        hypervisor.WalkOptions{MaxRepetitions: maxRepetitions},
		Concurrency: concurrency, AgentCache: agentCache, FreshWait: fresh,
		DiscoveryEvery: discoveryEvery, SummaryLevel: slog.LevelDebug,
		Version: cli.ReadBuild().String(),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if !once {
		if spooled != nil {
			lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			sp, closeSpool, err := sampler.OpenSpool(lctx, spoolDir, spoolMax)
			cancel()
			if err != nil {
				env.Log.Error("spool unusable", "err", err)
				return cli.ExitRuntime
			}
			defer closeSpool()
			spooled.Spool = sp
		}
		e, err := sampler.New(o, nil)
		if err != nil {
			fmt.Fprintf(env.Stderr, "vcr-sender: %v\n", err)
			return cli.ExitUsage
		}
		defer e.Close()
		env.Log.Info("vcr-sender starting", append(cli.ReadBuild().LogArgs(),
			"hypervisors", len(inv.Hypervisors), "interval_seconds", interval.Seconds())...)
		if err := e.Run(ctx, rounds); err != nil {
			env.Log.Error("sender stopped", "err", err)
			return cli.ExitRuntime
		}
		return cli.ExitOK
	}
	if statePath == "" {
		statePath = filepath.Join(inv.StateDir, "sender", "state.json")
	}
	o.SummaryLevel = slog.LevelInfo
	rep, err := sampler.Once(ctx, o, sampler.OnceOptions{StatePath: statePath, Align: align, LockWait: lockWait,
		Spooled: spooled, SpoolDir: spoolDir, SpoolMax: spoolMax})
	if err != nil {
		env.Log.Error("sample not taken", "err", err, "locked", errors.Is(err, sampler.ErrLocked))
		return cli.ExitRuntime
	}
	if failed, notSent := rep.Failed(); failed+notSent > 0 {
		return cli.ExitRuntime
	}
	return cli.ExitOK
}
