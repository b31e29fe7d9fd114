// Command vcr-labagent is the lab's stand-in for the libvirt-snmp agent (scripts/lab.d/snmp.sh
// builds and runs it). It serves the same LIBVIRT-MIB objects from the same libvirt data as
// the real agent, which is not packaged for Debian 12:
//
//	vcr-labagent pass -uri URI -log FILE [-synthetic N] [-synthetic-file F] [-cache 5s] [-lost-file F]
//	    an snmpd pass_persist program serving libvirtGuestTable (snmpd.conf:
//	    pass_persist .1.3.6.1.4.1.36957.1.1 vcr-labagent pass -uri URI -log FILE);
//	    snmpd reads the program's stderr as answers too, hence -log; once the -lost-file
//	    exists the agent serves no rows until it is restarted, as libvirt-snmp does
//	    after libvirtd restarts
//	vcr-labagent traps -uri URI -community-file F -sink HOST:PORT [-sink ...]
//	    follows libvirt's lifecycle events and sends libvirtGuestNotif traps
//
// Exit codes: 0 done (stdin closed, or a signal), 1 runtime failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const usage = `usage:
  vcr-labagent pass -uri URI [-log FILE] [-synthetic N] [-synthetic-file FILE] [-cache 5s] [-lost-file FILE]
  vcr-labagent traps -uri URI [-log FILE] -community-file FILE -sink HOST:PORT [-sink HOST:PORT ...]
exit codes: 0 done, 1 failure, 2 usage error`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	mode, args := args[0], args[1:]
	fs := flag.NewFlagSet("vcr-labagent "+mode, flag.ContinueOnError)
	uri := fs.String("uri", "", "libvirt connection URI (required)")
	debug := fs.Bool("debug", false, "log at debug level")
	logFile := fs.String("log", "", "append the log to `FILE` instead of stderr (pass mode: snmpd reads the program's stderr as answers)")
	var pass passOptions
	var traps trapOptions
	switch mode {
	case "pass":
		fs.IntVar(&pass.Synthetic, "synthetic", 0, "add `N` generated guests to the table")
		fs.StringVar(&pass.SyntheticFile, "synthetic-file", "", "file holding the number of generated guests, read at each refresh (overrides -synthetic when present)")
		fs.DurationVar(&pass.CacheTTL, "cache", 5*time.Second, "how long the table is served before libvirt is read again")
		fs.StringVar(&pass.LostFile, "lost-file", "", "once `FILE` exists at a table refresh, lose libvirt until restarted (no rows), as libvirt-snmp after a libvirtd restart")
	case "traps":
		fs.StringVar(&traps.CommunityFile, "community-file", "", "file holding the SNMPv2c community (required)")
		fs.Func("sink", "trap destination `HOST:PORT` (repeatable)", func(s string) error {
			traps.Sinks = append(traps.Sinks, strings.Split(s, ",")...)
			return nil
		})
	default:
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *uri == "" || (mode == "traps" && (traps.CommunityFile == "" || len(traps.Sinks) == 0)) {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logOut := os.Stderr
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer f.Close()
		logOut = f
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})).With("mode", mode)

	v := virsh{URI: *uri}
	var err error
	switch mode {
	case "pass":
		// No signal handler: snmpd ends the program by closing its stdin, and a signal
		// must end it even while it waits for a command.
		err = runPass(context.Background(), log, v, pass, os.Stdin, os.Stdout)
	case "traps":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = runTraps(ctx, log, v, traps)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("labagent failed", "err", err)
		return 1
	}
	return 0
}
