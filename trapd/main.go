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

// opts holds the flags; the ones whose default is the inventory's trapd section
// (-zabbix-host, -spool-max, -reject-retry) default to zero, which trapd.New fills in.
var opts = trapd.Defaults(nil, nil)

// flags binds opts to vcr-trapd's flags.
func flags(fs *flag.FlagSet) {
	o := &opts
	fs.StringVar(&o.Mode, "mode", o.Mode, "trap intake: listen (own UDP listener on snmp.trap_listen) or follow (snmptrapd's log, snmp.snmptrapd_log)")
	fs.StringVar(&o.TrapdHost, "zabbix-host", "", "Zabbix `host` of trapd's health counters (default: the inventory's trapd.zabbix_host)")
	fs.DurationVar(&o.StatsInterval, "stats-interval", o.StatsInterval, "how often the health counters are sent to Zabbix (0: never)")
	fs.StringVar(&o.ForwardKey, "forward-key", "", "item `key` that receives traps that are not libvirtGuestNotif as text (empty: count them only)")
	fs.StringVar(&o.SpoolDir, "spool-dir", "", "spool `folder` for values Zabbix cannot take (default: state_dir/trapd/spool)")
	fs.Int64Var(&o.SpoolMax, "spool-max", 0, "spool size limit in `bytes`; past it the oldest values are dropped, counted (default: the inventory's trapd.spool_max)")
	fs.IntVar(&o.Batch, "batch", o.Batch, "most values per trapper request")
	fs.DurationVar(&o.RejectRetry, "reject-retry", 0, "how long values the server refuses are retried, new items come from LLD (default: the inventory's trapd.reject_retry)")
	fs.DurationVar(&o.FastPathMaxAge, "fast-path-max-age", o.FastPathMaxAge, "traps older than this do not start the fast path")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", o.DrainTimeout, "at shutdown, how long queued values may take to send before they are spooled")
	fs.IntVar(&o.RcvBuf, "rcvbuf", o.RcvBuf, "listen: socket receive buffer in `bytes`")
	fs.IntVar(&o.Queue, "queue", o.Queue, "listen: datagrams queued between the socket and the decoders")
	fs.IntVar(&o.Workers, "workers", o.Workers, "listen: decoders (0: one per CPU)")
	fs.IntVar(&o.MaxPacket, "max-packet", o.MaxPacket, "listen: datagrams larger than this many `bytes` are counted malformed, not decoded")
	fs.StringVar(&o.LogPath, "log-file", "", "follow: snmptrapd's log `file` (default: snmp.snmptrapd_log)")
	fs.BoolVar(&o.FromStart, "from-start", false, "follow: with no saved position, read the existing log from its start (default: from its end)")
}

var program = cli.Program{
	Name:     "vcr-trapd",
	Synopsis: "vcr-trapd [-config PATH] [-check] [-mode listen|follow] [flags]",
	About: `Receives libvirt-snmp traps (libvirtGuestNotif) and sends VM state items to Zabbix:
vcr.guest.state[UUID] and vcr.guest.state.text[UUID] on the hypervisor's host, the full
guest discovery when a new VM appears, and its health counters vcr.trapd.* (with
its build, vcr.trapd.version) every -stats-interval. listen mode receives traps itself (snmp.trap_listen, v2c communities
from snmp.communities_file, SNMPv3 users from snmp.users); follow mode reads the log of
snmptrapd (snmp.snmptrapd_log). While the Zabbix trapper is unreachable, values go to a
disk spool and are replayed in order. SIGTERM or SIGINT: stop, flush, log the counters.`,
	ExitCodes: `Exit codes:
  0  stopped by SIGTERM or SIGINT after flushing
  1  the daemon could not run: trap port not bindable, log not followable, spool or
     state_dir unusable, a hypervisor address that does not resolve
  2  usage or configuration error (flags, inventory, secret files)
`,
	Flags: flags,
	Main:  run,
}

func run(env cli.Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	build := cli.ReadBuild()
	opts.Inventory, opts.Log, opts.Version = env.Inventory, env.Log, build.String()
	env.Log.Info("vcr-trapd starting", append(build.LogArgs(), "mode", opts.Mode)...)
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
