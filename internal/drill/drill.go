// Package drill is a test failover (vcr-recover -test): it proves that a service's
// standby would come up tonight, without touching production (shared/DESIGN.md, "data";
// issue 12, item 4).
//
// A warm standby's container must run: its test hooks (services[].hooks with phase
// test) run in it and its probe ports must answer at its address. A cold standby's
// backup is what a failover would start from, so a drill creates a scratch instance
// from it under a temporary name (CONTAINER-drill-XXXXXX), starts it, runs the
// service's hooks (recover, then test), probes its ports and measures how long that
// took, the RTO a failover's container part would have; then it deletes the instance,
// with a fresh bounded context, also when the drill was interrupted (SIGTERM, -timeout).
//
// A drill never looks at or changes DNS, the primary, the direction or the service's
// real container (beyond reading whether a warm one runs). It refuses, changing nothing,
// while another run (a recovery, failback or migration) holds the service's lock; it does
// not keep the lock itself, so a recovery that starts during a drill never waits for it.
// A drill lock of its own keeps two drills of a service apart, so the scratch instances
// a drill finds at its start are leftovers of a killed one, which it removes.
package drill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/lock"
	"github.com/vcrcovery/vcrcovery/internal/recovery"
)

// Reporter tells Zabbix a drill's outcome; its failure is logged, never changes the
// drill's result.
type Reporter interface {
	Report(ctx context.Context, svc *config.Service, r *Report) error
}

// Run configures the drill of one service.
type Run struct {
	Inventory *config.Inventory
	Service   *config.Service
	// Containers is the LXD server that holds (or would create) the container.
	Containers container.Starter
	// Remove stops and deletes a scratch instance. It gets a fresh context of its own
	// (the run's may have ended: that is when it matters most), so it must not use a
	// connection bound to the run's context (the LXD client binds one at connect time).
	Remove func(ctx context.Context, name string) error
	// Leftovers lists the instances whose name starts with prefix (nil: none looked for).
	Leftovers func(ctx context.Context, prefix string) ([]string, error)
	Probe     recovery.Prober
	Reporter  Reporter // nil: not reported
	Log       *slog.Logger
	Now       func() time.Time // nil: time.Now
	// Iface carries the service (default eth0).
	Iface string
	// Suffix names the scratch instance (nil: 6 random hex digits).
	Suffix func() string
	// CleanupTimeout bounds the scratch instance's removal (default 30s).
	CleanupTimeout time.Duration
}

// Results of a drill (-json, the log; Zabbix gets Ready and Step).
const (
	ResultReady    = "ready"
	ResultNotReady = "not-ready"
	// ResultRefused: another run holds the service's lock; nothing was done or reported.
	ResultRefused = "refused"
	// ResultInterrupted: the run's context ended (SIGTERM, -timeout) before the drill
	// decided; the scratch instance was removed, nothing was reported (it says nothing
	// about the standby).
	ResultInterrupted = "interrupted"
	// ResultCannotRun: state_dir or its locks unusable.
	ResultCannotRun = "cannot-run"
)

// Report is one drill's outcome.
type Report struct {
	Service string `json:"service"`
	Mode    string `json:"mode"` // warm, cold
	Result  string `json:"result"`
	Ready   bool   `json:"ready"`
	// Step is the step that failed ("" when ready), as vcr.drill.step reports it.
	Step     string `json:"step,omitempty"`
	ExitCode int    `json:"exit_code"`
	Message  string `json:"message"`
	// Seconds is what the drill measured: for a cold standby the drill RTO (scratch
	// instance created and started, hooks, address, ports answering); for a warm one
	// the checks. TotalSeconds adds the lock and the clean-up.
	Seconds      float64 `json:"seconds"`
	TotalSeconds float64 `json:"total_seconds"`
	// Instance is the scratch instance of a cold drill; Address where it (or the warm
	// container) answered.
	Instance string          `json:"instance,omitempty"`
	Address  string          `json:"address,omitempty"`
	Steps    []recovery.Step `json:"steps"`
	Started  time.Time       `json:"started"`
	// Warnings need a person: a scratch instance that could not be removed.
	Warnings []string `json:"warnings,omitempty"`
}

// fail ends a drill at a step with the exit code of that kind of failure.
func fail(code int, format string, args ...any) error {
	return cli.Fail(code, fmt.Errorf(format, args...))
}

func (r *Run) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// step times f, logs it once and records it; a failure names the step in the report.
func (r *Run) step(rep *Report, name string, f func() (string, error)) error {
	s, err := recovery.TimeStep(r.Log, r.now, rep.Service, name, f)
	rep.Steps = append(rep.Steps, s)
	if err != nil && rep.Step == "" {
		rep.Step = name
	}
	return err
}

// Execute performs the drill and returns its report (never nil), ExitCode set.
func (r *Run) Execute(ctx context.Context) *Report {
	if r.Iface == "" {
		r.Iface = "eth0"
	}
	if r.CleanupTimeout <= 0 {
		r.CleanupTimeout = 30 * time.Second
	}
	svc := r.Service
	rep := &Report{Service: svc.Name, Mode: svc.Standby.Mode.String(), Started: r.now()}
	err := r.checkLock(rep)
	var drillLock *lock.Lock
	if err == nil {
		drillLock, err = r.drillLock(rep)
	}
	if err == nil {
		defer drillLock.Unlock()
		if svc.Standby.Mode == config.ModeCold {
			err = r.cold(ctx, rep)
		} else {
			err = r.warm(ctx, rep)
		}
	}
	rep.TotalSeconds = r.now().Sub(rep.Started).Seconds()
	switch {
	case err == nil:
		rep.Result, rep.Ready = ResultReady, true
		rep.Message = fmt.Sprintf("%s standby of %s is ready: up and answering in %.3f s", rep.Mode, svc.Name, rep.Seconds)
	case rep.Result != "": // refused, cannot run: decided by checkLock or drillLock
		rep.Message = err.Error()
	case ctx.Err() != nil:
		rep.Result, rep.ExitCode = ResultInterrupted, cli.ExitRuntime
		rep.Message = fmt.Sprintf("interrupted at step %s (%v): nothing reported", rep.Step, context.Cause(ctx))
	default:
		rep.Result, rep.ExitCode = ResultNotReady, cli.ExitCode(err, cli.ExitContainer)
		rep.Message = fmt.Sprintf("not ready: step %s: %v", rep.Step, err)
	}
	if len(rep.Warnings) > 0 {
		rep.Message += "; warning: " + strings.Join(rep.Warnings, "; ")
		if rep.ExitCode == cli.ExitOK {
			rep.ExitCode = cli.ExitContainer // a scratch instance left behind
		}
	}
	if r.Reporter != nil && (rep.Result == ResultReady || rep.Result == ResultNotReady) {
		// The run's context may be short now; the report gets its own bound.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		rep.Steps = append(rep.Steps, recovery.TimeReport(r.Log, r.now, svc.Name, func() error { return r.Reporter.Report(rctx, svc, rep) }))
		cancel()
	}
	level := slog.LevelInfo
	if rep.ExitCode != 0 {
		level = slog.LevelWarn
	}
	r.Log.Log(ctx, level, "drill finished", "service", svc.Name, "mode", rep.Mode, "result", rep.Result, "ready", rep.Ready,
		"failed_step", rep.Step, "exit_code", rep.ExitCode, "drill_seconds", rep.Seconds, "duration_seconds", rep.TotalSeconds, "message", rep.Message)
	return rep
}

// checkLock refuses while another run holds the service's lock. The lock is let go
// at once: the drill must never hold up a recovery that starts after it.
func (r *Run) checkLock(rep *Report) error {
	path := lock.ServicePath(r.Inventory.StateDir, r.Service.Name)
	return r.step(rep, "lock", func() (string, error) {
		l, err := lock.Try(path)
		switch {
		case errors.Is(err, lock.ErrBusy):
			rep.Result, rep.ExitCode = ResultRefused, cli.ExitRefused
			return "", fmt.Errorf("refused: another run (recover, failback, migrate) of %s holds %s: no drill while it runs", r.Service.Name, path)
		case err != nil:
			rep.Result, rep.ExitCode = ResultCannotRun, cli.ExitRuntime
			return "", fmt.Errorf("cannot run: state_dir/locks unusable (%s): %v", filepath.Dir(path), err)
		}
		l.Unlock()
		return "free", nil
	})
}

// drillLock keeps a second drill of the service (an operator's, beside cron's) from
// running at once: refused like a held service lock.
func (r *Run) drillLock(rep *Report) (*lock.Lock, error) {
	path := lock.DrillPath(r.Inventory.StateDir, r.Service.Name)
	l, err := lock.Try(path)
	switch {
	case errors.Is(err, lock.ErrBusy):
		rep.Result, rep.ExitCode, rep.Step = ResultRefused, cli.ExitRefused, "lock"
		return nil, fmt.Errorf("refused: another drill of %s holds %s", r.Service.Name, path)
	case err != nil:
		rep.Result, rep.ExitCode, rep.Step = ResultCannotRun, cli.ExitRuntime, "lock"
		return nil, fmt.Errorf("cannot run: state_dir/locks unusable (%s): %v", filepath.Dir(path), err)
	}
	return l, nil
}

// sweep removes the scratch instances of earlier drills of the service that were
// killed before they could (SIGKILL, a crash): under the drill lock no other drill of
// it runs. Its failure is a warning; the drill goes on.
func (r *Run) sweep(ctx context.Context, rep *Report) {
	if r.Leftovers == nil {
		return
	}
	prefix := ScratchPrefix(r.Service.Standby.Container)
	names, err := r.Leftovers(ctx, prefix)
	if err == nil && len(names) == 0 {
		return
	}
	r.step(rep, "sweep", func() (string, error) {
		var errs []error
		if err != nil {
			errs = append(errs, err)
		}
		for _, n := range names {
			if rerr := r.Remove(ctx, n); rerr != nil {
				errs = append(errs, rerr)
			}
		}
		if err := errors.Join(errs...); err != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("leftover scratch instances %v: %v", names, err))
		}
		return fmt.Sprintf("removed leftovers %v", names), nil
	})
}

// warm checks the running container without changing it.
func (r *Run) warm(ctx context.Context, rep *Report) error {
	svc := r.Service
	name := svc.Standby.Container
	t0 := r.now()
	if err := r.step(rep, "container", func() (string, error) {
		running, err := r.Containers.Running(ctx, name)
		switch {
		case err != nil:
			return "", fail(cli.ExitContainer, "%v", err)
		case !running:
			return "", fail(cli.ExitContainer, "warm container %s does not run (a failover would start it; a warm standby should not need that)", name)
		}
		return name + " runs", nil
	}); err != nil {
		return err
	}
	if err := r.hooks(ctx, rep, name, svc.TestHooks); err != nil {
		return err
	}
	err := r.answer(ctx, rep, name)
	rep.Seconds = r.now().Sub(t0).Seconds()
	return err
}

// cold starts a scratch instance from the backup, checks it and removes it.
func (r *Run) cold(ctx context.Context, rep *Report) (err error) {
	svc := r.Service
	r.sweep(ctx, rep)
	rep.Instance = ScratchName(svc.Standby.Container, r.suffix())
	// Removed whatever happened, ctx ended or not: a fresh context, bounded.
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), r.CleanupTimeout)
		defer cancel()
		s, rerr := recovery.TimeStep(r.Log, r.now, svc.Name, "delete", func() (string, error) {
			if err := r.Remove(cctx, rep.Instance); err != nil {
				return "", err
			}
			return "removed " + rep.Instance, nil
		})
		rep.Steps = append(rep.Steps, s)
		if rerr != nil {
			r.Log.Error("scratch instance left behind: delete it by hand", "service", svc.Name, "instance", rep.Instance, "err", rerr)
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("scratch instance %s left behind: %v", rep.Instance, rerr))
		}
	}()
	b := svc.Standby.Backup
	t0 := r.now()
	if err := r.step(rep, "create", func() (string, error) {
		if _, err := r.Containers.Ensure(ctx, container.Spec{Name: rep.Instance, Backup: b, Scratch: true}); err != nil {
			return "", fail(cli.ExitContainer, "%v", err)
		}
		return fmt.Sprintf("created %s from %s %s and started it", rep.Instance, b.Kind, b.Source), nil
	}); err != nil {
		return err
	}
	if err := r.hooks(ctx, rep, rep.Instance, append(append([]config.Hook(nil), svc.Hooks...), svc.TestHooks...)); err != nil {
		return err
	}
	err = r.answer(ctx, rep, rep.Instance)
	rep.Seconds = r.now().Sub(t0).Seconds()
	return err
}

// hooks runs hs in the instance name, in order; the first failure ends the drill.
func (r *Run) hooks(ctx context.Context, rep *Report, name string, hs []config.Hook) error {
	for _, h := range hs {
		if err := r.step(rep, "hook:"+h.Name, func() (string, error) {
			out, err := container.RunHook(ctx, r.Containers, name, h)
			if err != nil {
				return out, fail(cli.ExitContainer, "%v", err)
			}
			return out, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// answer waits for the instance's address and probes the service's ports there, as a
// recovery does before its DNS switch, within the probe's timeout each.
func (r *Run) answer(ctx context.Context, rep *Report, name string) error {
	svc := r.Service
	var ip netip.Addr
	if err := r.step(rep, "address", func() (string, error) {
		actx, cancel := context.WithTimeout(ctx, svc.Probe.Timeout)
		defer cancel()
		var err error
		if ip, err = r.Containers.WaitIPv4(actx, name, r.Iface); err != nil {
			return "", fail(cli.ExitContainer, "%v", err)
		}
		rep.Address = ip.String()
		return ip.String(), nil
	}); err != nil {
		return err
	}
	return r.step(rep, "probe", func() (string, error) {
		pctx, cancel := context.WithTimeout(ctx, svc.Probe.Timeout)
		defer cancel()
		if err := r.Probe(pctx, svc, ip); err != nil {
			return "", fail(cli.ExitProbe, "%v", err)
		}
		return fmt.Sprintf("%s ports %v answer", ip, svc.Probe.Ports), nil
	})
}

func (r *Run) suffix() string {
	if r.Suffix != nil {
		return r.Suffix()
	}
	b := make([]byte, suffixLen/2)
	rand.Read(b) // never fails (Go 1.24: crypto/rand.Read panics rather than return an error)
	return hex.EncodeToString(b)
}

// suffixLen is the length of a scratch instance's random suffix.
const suffixLen = 6

// ScratchPrefix starts the name of every scratch instance of the container: its name
// (cut so that the whole name stays within LXD's 63 characters: an instance name is a
// host name) and "-drill-".
func ScratchPrefix(containerName string) string {
	if max := 63 - len("-drill-") - suffixLen; len(containerName) > max {
		containerName = strings.TrimRight(containerName[:max], "-")
	}
	return containerName + "-drill-"
}

// ScratchName is a cold drill's instance name: ScratchPrefix and suffix.
func ScratchName(containerName, suffix string) string {
	return ScratchPrefix(containerName) + suffix
}
