// Package cli holds what the binaries' mains share: the common flags (-config,
// -check, -log-format, -log-level, -version), the build identity (Build), the logger, inventory loading and the exit codes
// that Zabbix action logs and on-call staff read (shared/DESIGN.md).
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/vcrcovery/vcrcovery/internal/config"
)

// Exit codes of every binary; recover and migrate use all of them. Each binary's
// --help and README table say which it uses and when (a test of each binary compares
// the two and provokes every code).
const (
	ExitOK = 0 // done, or already done
	// ExitRuntime: the binary could not do its work for a reason outside its
	// configuration: recover, state_dir or its locks unusable; the daemons, a socket,
	// log, spool or name that does not work; sender -once and provision, a peer that
	// failed.
	ExitRuntime   = 1
	ExitUsage     = 2 // usage or configuration error
	ExitRefused   = 3 // refused by fencing (primary still up) or by maintenance
	ExitContainer = 4 // container failure
	ExitProbe     = 5 // the service port did not answer before the probe deadline
	ExitDNS       = 6 // DNS update or confirmation failed
	ExitLostRace  = 7 // another recoverer won the DNS compare-and-set: recovered, not by us
	// ExitData: a data step failed (vcr-recover -failback's quiesce, reverse sync or
	// verify; a -sync command): nothing was switched, the name stays where it was.
	ExitData = 9
)

// ExitCodesHelp is the exit-code table printed by --help of recover and migrate.
const ExitCodesHelp = `Exit codes:
  0  done, or already done
  1  could not run at all: state_dir or its locks unusable (read-only, not a folder, not permitted)
  2  usage or configuration error (flags, inventory, TSIG key or LXD certificate files)
  3  refused by fencing (primary still up) or by maintenance
  4  container failure (also: the LXD server unreachable or not trusting the client certificate)
  5  probe timeout: the service port did not answer
  6  DNS failure (also: the DNS server unreachable)
  7  lost the DNS compare-and-set to another recoverer (the service is recovered),
     or another run kept the service's lock for -lock-wait
`

// Error is a failure that decides its binary's exit code. It is made where the failure
// is understood (trapd.New, recovery.Wire), never guessed later from message text; the
// main reads it with ExitCode. Its message is Err's.
type Error struct {
	Code int // one of the Exit constants
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Fail returns err marked with exit code code (nil for a nil err).
func Fail(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// ExitCode returns the code of the first *Error in err's chain, or fallback when there
// is none (ExitOK for a nil err).
func ExitCode(err error, fallback int) int {
	if err == nil {
		return ExitOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return fallback
}

// Common are the flags every binary takes.
type Common struct {
	ConfigPath string
	Check      bool
	LogFormat  string
	LogLevel   string
	Version    bool
}

// Register adds the common flags to fs.
func (c *Common) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.ConfigPath, "config", config.DefaultPath, "inventory file `path`")
	fs.BoolVar(&c.Check, "check", false, "load and validate the inventory, print every error, and exit (0 valid, 2 invalid)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&c.Version, "version", false, "print the version and the VCS revision it was built from, and exit (also --version)")
}

// Usage returns a flag.FlagSet Usage function: synopsis, description, flags, exit codes
// (exitCodes, or ExitCodesHelp when empty).
func Usage(fs *flag.FlagSet, synopsis, description, exitCodes string) func() {
	if exitCodes == "" {
		exitCodes = ExitCodesHelp
	}
	return func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(description))
		fs.PrintDefaults()
		fmt.Fprintf(w, "\n%s", exitCodes)
	}
}

// Parse parses args. It returns ExitOK and false for -h, ExitUsage and false for a
// usage error (already printed by the flag package), and true to go on.
func Parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return ExitUsage, false
	}
	return 0, true
}

// Logger builds the one logger of a binary, writing to w.
func (c *Common) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("-log-format: want text or json, got %q", c.LogFormat)
	}
}

// Load loads the inventory. With -check it reports the result on stderr and returns the
// exit code and false; on an invalid inventory it prints every error and returns
// ExitUsage and false; otherwise it returns the inventory and true.
func (c *Common) Load(stdout, stderr io.Writer, prog string) (*config.Inventory, int, bool) {
	inv, err := config.Load(c.ConfigPath)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			fmt.Fprintf(stderr, "%s: %s: %d error(s):\n", prog, c.ConfigPath, len(errs))
			for _, e := range errs {
				fmt.Fprintf(stderr, "  %s\n", e.Error())
			}
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		}
		return nil, ExitUsage, false
	}
	if c.Check {
		fmt.Fprintf(stdout, "%s: %s: valid (%d services, %d hypervisors, %d standby servers)\n",
			prog, c.ConfigPath, len(inv.Services), len(inv.Hypervisors), len(inv.Standbys))
		return inv, ExitOK, false
	}
	return inv, 0, true
}

// Program describes one binary for Run.
type Program struct {
	Name     string // vcr-recover
	Synopsis string // usage line
	About    string // what it does, for --help
	// ExitCodes is the exit-code table for --help; empty means ExitCodesHelp, the table
	// of recover and migrate.
	ExitCodes string
	// Flags registers the binary's own flags (may be nil).
	Flags func(fs *flag.FlagSet)
	// Main does the work once the inventory is valid and returns the exit code.
	Main func(env Env) int
}

// Env is what Run hands a binary's Main.
type Env struct {
	Inventory *config.Inventory
	Log       *slog.Logger
	Stdout    io.Writer
	Stderr    io.Writer
}

// Run parses flags, builds the logger, loads the inventory (handling -check) and calls
// p.Main. Every main is `os.Exit(cli.Run(program, os.Args[1:], os.Stdout, os.Stderr))`.
func Run(p Program, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(p.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common Common
	common.Register(fs)
	if p.Flags != nil {
		p.Flags(fs)
	}
	fs.Usage = Usage(fs, p.Synopsis, p.About, p.ExitCodes)
	if code, ok := Parse(fs, args); !ok {
		return code
	}
	// Before the inventory: --version must answer on a machine that has none yet.
	if common.Version {
		fmt.Fprint(stdout, versionLine(p.Name))
		return ExitOK
	}
	log, err := common.Logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		return ExitUsage
	}
	inv, code, ok := common.Load(stdout, stderr, p.Name)
	if !ok {
		return code
	}
	return p.Main(Env{Inventory: inv, Log: log, Stdout: stdout, Stderr: stderr})
}
