// Command provision makes a Zabbix 6.0 server ready for vcrcovery from the inventory:
// templates, host groups, hosts, the recover and migrate scripts and their actions per standby
// (internal/provision; user documentation in zabbix-templates/README.md).
//
//	go run ./provision -config /etc/vcrcovery/vcrcovery.yaml [-dry-run]
//
// Idempotent: a second run changes nothing and says so.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/cost"
	"github.com/vcrcovery/vcrcovery/internal/provision"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

var (
	opts        = provision.Options{StandbyAgents: map[string]string{}}
	noDiscovery bool
	timeout     time.Duration
	// -cost prints internal/cost's report and returns before anything contacts Zabbix.
	costOn, costCSV bool
	costPrices      cost.Prices
)

var program = cli.Program{
	Name:     "vcr-provision",
	Synopsis: "vcr-provision [-config PATH] [-check] [-dry-run] [-prune] [-standby-agent NAME=HOST:PORT]... [-recover-command PATH] [-migrate-command PATH] [-trapd-host HOST] [-cloud-host HOST]\n       vcr-provision [-config PATH] -cost [-csv] [-cost-vm-price USD/h] [-cost-standby-price USD/h] [-cost-storage-price USD/GB-month] [-cost-gb GB] [-cost-users N]",
	About: `Makes a Zabbix 6.0 server ready for vcrcovery, from the inventory: imports the
templates of zabbix-templates/, creates the host groups, the hosts of the hypervisors,
protected VMs and standby VMs, the global script "vcrcovery recover" and one action
"vcrcovery recover on STANDBY" per standby, and the global script "vcrcovery migrate
auto" (vcr-migrate -auto for the standby's "overloaded" problem) and one action
"vcrcovery migrate on STANDBY" per standby. It logs in with the inventory's Zabbix API
credentials. A second run changes nothing; every run lists what it created, updated or
left unchanged. New objects take effect at the server's next configuration cache reload.
Each fast_path service also gets the manual script "vcrcovery recover SERVICE" that
vcr-trapd runs through the API. A standby's agent address is, in order: -standby-agent,
the inventory's standbys[].zabbix_agent, its zabbix_host on port 10050.
Every name above starts with the inventory's zabbix.prefix (default "vcrcovery"), and
every host gets the tag vcr.inventory=PREFIX, which the actions require of a problem:
several inventories with different prefixes share one Zabbix without touching each
other's objects (the templates are shared). -prune also deletes this prefix's actions,
fast-path scripts and tagged hosts that the inventory no longer has; with -dry-run it
lists them.`,
	ExitCodes: `Exit codes:
  0  done (or nothing to change)
  1  Zabbix refused a change or the login, or could not be reached (the message says
     what was being done); with -cost, the report could not be written
  2  usage or inventory error (including an inventory without zabbix.api_url; with
     -cost, a price, size or user count out of range, or -csv without -cost)
`,
	Flags: func(fs *flag.FlagSet) {
		fs.StringVar(&opts.RecoverCommand, "recover-command", provision.DefaultRecoverCommand,
			"absolute `path` of scripts/zabbix-recover on the standby VMs")
		fs.StringVar(&opts.MigrateCommand, "migrate-command", provision.DefaultMigrateCommand,
			"absolute `path` of scripts/zabbix-migrate on the standby VMs")
		fs.Func("standby-agent", "Zabbix agent of a standby VM, as `NAME=HOST:PORT` (repeatable; default: standbys[].zabbix_agent, else the standby's zabbix_host, port 10050)",
			func(s string) error {
				name, addr, ok := strings.Cut(s, "=")
				if !ok || name == "" || addr == "" {
					return fmt.Errorf("want NAME=HOST:PORT, got %q", s)
				}
				if _, dup := opts.StandbyAgents[name]; dup {
					return fmt.Errorf("standby %s given twice", name)
				}
				opts.StandbyAgents[name] = addr
				return nil
			})
		fs.StringVar(&opts.TrapdHost, "trapd-host", "", "Zabbix `host` that gets template \"vcrcovery trapd\" (default: the first standby's)")
		fs.StringVar(&opts.CloudHost, "cloud-host", "", "Zabbix `host` that gets template \"vcrcovery cloud\" (default: the first standby's)")
		fs.BoolVar(&opts.DryRun, "dry-run", false, "print what would change, change nothing")
		fs.BoolVar(&opts.Prune, "prune", false, "delete this inventory's (zabbix.prefix's) actions, fast-path scripts and hosts that it no longer has")
		fs.BoolVar(&noDiscovery, "no-discovery", false, "do not send each standby host its list of services (vcr.service.discovery)")
		fs.DurationVar(&timeout, "timeout", 2*time.Minute, "deadline of the whole run")
		fs.BoolVar(&costOn, "cost", false, "provision nothing, never contact Zabbix: print the inventory's yearly standby cost per scheme (conventional warm, consolidated warm, cold shared by -cost-users, cooperative pool, as configured; README \"Cost\"); "+cost.PriceSource)
		fs.BoolVar(&costCSV, "csv", false, "with -cost: print CSV instead of a table")
		costPrices.Register(fs)
	},
	Main: run,
}

func main() { os.Exit(cli.Run(program, os.Args[1:], os.Stdout, os.Stderr)) }

func run(env cli.Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	if costOn || costCSV {
		return printCost(env)
	}
	if err := provision.Check(env.Inventory, opts); err != nil {
		fmt.Fprintf(env.Stderr, "vcr-provision: %v\n", err)
		return cli.ExitUsage
	}
	api, err := provision.Connect(ctx, env.Inventory.Zabbix)
	if errors.Is(err, provision.ErrOptions) {
		fmt.Fprintf(env.Stderr, "vcr-provision: %v\n", err)
		return cli.ExitUsage
	}
	if err != nil {
		env.Log.Error("cannot reach the Zabbix API", "err", err)
		return cli.ExitRuntime
	}
	defer api.Logout(context.Background())
	if !noDiscovery {
		opts.Sender = &zabbix.Sender{Addr: env.Inventory.Zabbix.Server.String(), Timeout: env.Inventory.Zabbix.Timeout}
	}
	rep, err := provision.Run(ctx, api, env.Inventory, opts)
	if len(rep.Changes) > 0 || err == nil {
		rep.Write(env.Stdout)
	}
	if err != nil {
		env.Log.Error("provisioning failed", "err", err)
		return cli.ExitRuntime
	}
	return cli.ExitOK
}

// printCost is -cost: the report of internal/cost, from the inventory alone.
func printCost(env cli.Env) int {
	err := costPrices.Validate()
	if err == nil && !costOn {
		err = errors.New("-csv needs -cost")
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "vcr-provision: %v\n", err)
		return cli.ExitUsage
	}
	if err := cost.Compute(env.Inventory, costPrices).Write(env.Stdout, costCSV); err != nil {
		env.Log.Error("cannot write the cost report", "err", err)
		return cli.ExitRuntime
	}
	return cli.ExitOK
}
