// Command vcr-trapd receives libvirt-snmp traps (libvirtGuestNotif) and sends VM state
// items to Zabbix, fast and without loss: with its own UDP listener or by following
// snmptrapd's log, spooling to disk while Zabbix is unreachable, and starting recovery
// at once through the Zabbix API for services with fast_path. See trapd/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/trapd"
)

var opts trapd.Options

var program = cli.Program{
	Name:     "vcr-trapd",
	Synopsis: "vcr-trapd [-config PATH] [-check] [-mode listen|follow] [flags]",
	About: `Receives libvirt-snmp traps (libvirtGuestNotif) and sends VM state items to Zabbix:
vcr.guest.state[UUID] and vcr.guest.state.text[UUID] on the hypervisor's host, the full
guest discovery when a new VM appears, and its health counters vcr.trapd.* every
-stats-interval. listen mode receives traps itself (snmp.trap_listen, v2c communities
from snmp.communities_file, SNMPv3 users from snmp.users); follow mode reads the log of
snmptrapd (snmp.snmptrapd_log). While the Zabbix trapper is unreachable, values go to a
disk spool and are replayed in order. SIGTERM or SIGINT: stop, flush, log the counters.`,
	ExitCodes: `Exit codes:
  0  stopped by SIGTERM or SIGINT after flushing
  1  the daemon could not run: trap port not bindable, log not followable, spool or
     state_dir unusable, a hypervisor address that does not resolve
  2  usage or configuration error (flags, inventory, secret files)
`,
	Flags: func(fs *flag.FlagSet) { opts.Register(fs) },
	Main:  run,
}

func run(env cli.Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	opts.Inventory, opts.Log = env.Inventory, env.Log
	s, err := trapd.New(ctx, opts)
	if err != nil {
		fmt.Fprintf(env.Stderr, "vcr-trapd: %v\n", err)
		return cli.ExitCode(err, cli.ExitRuntime)
	}
	defer s.Close()
	if err := s.Listen(); err != nil {
		env.Log.Error("cannot start trap intake", "mode", opts.Mode, "err", err)
		return cli.ExitRuntime
	}
	if err := s.Serve(ctx); err != nil {
		env.Log.Error("trapd failed", "err", err)
		return cli.ExitRuntime
	}
	return cli.ExitOK
}

func main() { os.Exit(cli.Run(program, os.Args[1:], os.Stdout, os.Stderr)) }
