// Package recovery is one run of vcr-recover: bring a service back in its standby
// container and point its DNS name there, exactly once (shared/DESIGN.md):
//
//	lock -> fence -> container -> hooks -> address -> probe -> DNS compare-and-set -> report
//
// Every step is timed; the result maps to the exit codes of shared/DESIGN.md.
package recovery

import (
	"context"
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
	"github.com/vcrcovery/vcrcovery/internal/datasync"
	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/fence"
	"github.com/vcrcovery/vcrcovery/internal/lock"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Containers is what a run needs of the standby's LXD server.
type Containers interface {
	container.Starter
	Stop(ctx context.Context, name string) error
}

// DNS is what a run needs of the authoritative server.
type DNS interface {
	Switch(ctx context.Context, name string, from, to netip.Addr) error
	Lookup(ctx context.Context, name string) ([]netip.Addr, error)
}

// Fencer gathers the evidence that the primary is down.
type Fencer interface {
	Check(ctx context.Context, svc *config.Service) fence.Verdict
}

// Prober waits until addr serves the service's ports or ctx ends.
type Prober func(ctx context.Context, svc *config.Service, addr netip.Addr) error

// Reporter tells Zabbix how the run went (items on the standby host, event
// acknowledgement). Its failure is logged, never changes the exit code.
type Reporter interface {
	Report(ctx context.Context, r *Report) error
}

// Run configures one run.
type Run struct {
	Inventory *config.Inventory
	Service   *config.Service
	// Standby is the standbys entry whose LXD server holds the container now (Wire finds
	// it; empty: the service's standby.host).
	Standby string
	// Event is the Zabbix event ID that started the run ("" when run by hand).
	Event    string
	Force    bool // skip fencing and maintenance refusals
	DryRun   bool // print the plan, change nothing
	Failback bool // return the service to its primary
	// LockWait is how long to wait for a concurrent run of the same service (default 60s).
	LockWait time.Duration
	// DedupWindow: an event already handled successfully this recently is a no-op
	// (default 10m).
	DedupWindow time.Duration
	// Iface is the container's interface that carries the service (default eth0).
	Iface string
	// FenceWait is how long fencing keeps asking while the primary's port is silent but
	// no source says it is down yet (0: the inventory's fence.evidence_wait, default
	// 6s; negative: no wait): the SNMP agent caches its table for up
	// to 5 s and Zabbix shows trapd's state after its next history sync (1 s), so a run
	// started by trapd's fast path can be ahead of both.
	FenceWait time.Duration

	Containers Containers
	// Relocate finds the container's server again (nil: never): after waiting for the
	// lock, since the run that held it may have been a migration.
	Relocate func(ctx context.Context) (Containers, string, error)
	DNS      DNS
	Fence    Fencer
	Probe    Prober
	Reporter Reporter // may be nil
	// Events returns the Zabbix API for the stale-event check of a run with -event
	// (nil func, or a nil source: not checked).
	Events func(ctx context.Context) (EventSource, error)
	Log    *slog.Logger
	Now    func() time.Time
	// Clock runs the fence wait (nil: the wall clock).
	Clock fence.Clock
	// EvidenceReady waits until every fencing source can answer (Wire: the Zabbix API
	// login that runs beside the run; nil: they all can at once). A real run does not
	// wait for it, fencing goes on without the Zabbix evidence; a dry run does, bounded
	// by EvidenceWait, so that its plan shows what on-call staff need most when the
	// agent's cache still says running: trapd's last state and the host's availability.
	EvidenceReady func(ctx context.Context) error
	// EvidenceWait bounds that wait of a dry run (default 5s).
	EvidenceWait time.Duration

	api *zabbix.Pending // set by Wire, logged out by Close
}

// Step is one timed step of a run.
type Step struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Detail  string  `json:"detail,omitempty"`
	Error   string  `json:"error,omitempty"`
}

// Report is the outcome of a run; -json prints it.
type Report struct {
	Service  string  `json:"service"`
	Event    string  `json:"event,omitempty"`
	Action   string  `json:"action"` // recover, failback
	DryRun   bool    `json:"dry_run,omitempty"`
	Result   string  `json:"result"`
	ExitCode int     `json:"exit_code"`
	Message  string  `json:"message"`
	Seconds  float64 `json:"seconds"`
	Steps    []Step  `json:"steps"`
	// ServedFrom says where the name points at the end: "primary 10.0.0.5" or
	// "standby/web1 10.77.2.34".
	ServedFrom string    `json:"served_from,omitempty"`
	Started    time.Time `json:"started"`
	Plan       []string  `json:"plan,omitempty"`
	// Warnings are failures that did not change the result but need a person: the
	// service's state not saved (a repeat of the event would not be a no-op). They
	// are also appended to Message, which the event acknowledgement carries.
	Warnings []string `json:"warnings,omitempty"`
}

// Results, as reported to Zabbix (vcr.recover.result) and in -json.
const (
	ResultOK          = "ok"
	ResultAlreadyDone = "already-done"
	ResultRefused     = "refused"
	ResultContainer   = "container-failed"
	ResultProbe       = "probe-timeout"
	ResultDNS         = "dns-failed"
	ResultLostRace    = "lost-race"
	// ResultData: a failback data step (quiesce, reverse sync, verify) failed; the
	// name stays on the container.
	ResultData    = "data-failed"
	ResultPlanned = "planned"
	// ResultStale: the run's -event is stale (its problem resolved, or older than the
	// last failback): nothing was changed.
	ResultStale = "stale-event"
	// ResultCannotRun: the run could not start at all (state_dir or its locks
	// unusable); nothing was looked at or changed.
	ResultCannotRun = "cannot-run"
)

var exitCodes = map[string]int{
	ResultOK: cli.ExitOK, ResultAlreadyDone: cli.ExitOK, ResultPlanned: cli.ExitOK,
	ResultRefused: cli.ExitRefused, ResultContainer: cli.ExitContainer, ResultProbe: cli.ExitProbe,
	ResultDNS: cli.ExitDNS, ResultLostRace: cli.ExitLostRace, ResultCannotRun: cli.ExitRuntime,
	ResultData: cli.ExitData, ResultStale: cli.ExitOK,
}

// outcome ends a run early with a result.
type outcome struct {
	result string
	msg    string
}

func (o *outcome) Error() string { return o.msg }

func end(result, format string, args ...any) error {
	return &outcome{result: result, msg: fmt.Sprintf(format, args...)}
}

func (r *Run) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// step times f as the step name and records it.
func (r *Run) step(rep *Report, name string, f func() (string, error)) error {
	s, err := TimeStep(r.Log, r.now, rep.Service, name, f)
	rep.Steps = append(rep.Steps, s)
	return err
}

// TimeStep runs f as the step name of service's run, times it on now and logs it once
// ("step done" or "step failed"). vcr-recover and vcr-migrate report steps alike.
func TimeStep(log *slog.Logger, now func() time.Time, service, name string, f func() (string, error)) (Step, error) {
	t0 := now()
	detail, err := f()
	s := Step{Name: name, Seconds: now().Sub(t0).Seconds(), Detail: detail}
	if err != nil {
		s.Error = err.Error()
	}
	attrs := []any{"service", service, "step", name, "duration_seconds", s.Seconds}
	if detail != "" {
		attrs = append(attrs, "detail", detail)
	}
	if err != nil {
		log.Warn("step failed", append(attrs, "err", err)...)
	} else {
		log.Info("step done", attrs...)
	}
	return s, err
}

// TimeReport runs report (the run's report to Zabbix) as the step "report", timed on
// now. Its failure is logged once and recorded in the step; it never changes the run's
// result, which has been decided before.
func TimeReport(log *slog.Logger, now func() time.Time, service string, report func() error) Step {
	t0 := now()
	err := report()
	s := Step{Name: "report", Seconds: now().Sub(t0).Seconds()}
	if err != nil {
		s.Error = err.Error()
		log.Warn("report to zabbix failed", "service", service, "err", err)
	}
	return s
}

// Execute performs the run and returns its report (never nil). ExitCode is set.
func (r *Run) Execute(ctx context.Context) *Report {
	if r.Iface == "" {
		r.Iface = "eth0"
	}
	if r.LockWait <= 0 {
		r.LockWait = 60 * time.Second
	}
	if r.DedupWindow <= 0 {
		r.DedupWindow = 10 * time.Minute
	}
	if r.FenceWait == 0 {
		r.FenceWait = r.Inventory.Fence.EvidenceWait
	}
	rep := &Report{Service: r.Service.Name, Event: r.Event, Action: "recover", DryRun: r.DryRun, Started: r.now()}
	if r.Failback {
		rep.Action = "failback"
	}
	var err error
	switch {
	case r.DryRun:
		err = r.plan(ctx, rep)
	case r.Failback:
		err = r.locked(ctx, rep, r.failback)
	default:
		err = r.locked(ctx, rep, r.recover)
	}
	var o *outcome
	switch {
	case err == nil:
		rep.Result, rep.Message = ResultOK, "done"
	case errors.As(err, &o):
		rep.Result, rep.Message = o.result, o.msg
	default:
		rep.Result, rep.Message = ResultContainer, err.Error()
	}
	if r.DryRun {
		rep.Result = ResultPlanned
	}
	for _, w := range rep.Warnings {
		rep.Message += "; warning: " + w
	}
	rep.ExitCode = exitCodes[rep.Result]
	rep.Seconds = r.now().Sub(rep.Started).Seconds()
	if r.Reporter != nil && !r.DryRun {
		rep.Steps = append(rep.Steps, TimeReport(r.Log, r.now, rep.Service, func() error { return r.Reporter.Report(ctx, rep) }))
	}
	level := slog.LevelInfo
	if rep.ExitCode != 0 {
		level = slog.LevelWarn
	}
	r.Log.Log(ctx, level, "recover finished", "service", rep.Service, "action", rep.Action, "result", rep.Result,
		"exit_code", rep.ExitCode, "duration_seconds", rep.Seconds, "served_from", rep.ServedFrom, "message", rep.Message)
	return rep
}

// locked runs f under the service's lock, after the duplicate-event check.
func (r *Run) locked(ctx context.Context, rep *Report, f func(context.Context, *Report) error) error {
	path := lock.ServicePath(r.Inventory.StateDir, r.Service.Name)
	var l *lock.Lock
	waited := false
	// A lock that cannot be taken at all (state_dir read-only, full, not a folder) is
	// no concurrent run: the run cannot start, and says where.
	unusable := func(err error) error {
		return end(ResultCannotRun, "cannot run: state_dir/locks unusable (%s): %v", filepath.Dir(path), err)
	}
	err := r.step(rep, "lock", func() (string, error) {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		var err error
		l, err = lock.Acquire(lctx, path)
		cancel()
		switch {
		case err == nil:
			return "", nil
		case !errors.Is(err, lock.ErrBusy):
			return "", unusable(err)
		}
		// Another run holds it: wait for it to finish, then look at what it left.
		waited = true
		lctx, cancel = context.WithTimeout(ctx, r.LockWait)
		defer cancel()
		l, err = lock.Acquire(lctx, path)
		switch {
		case errors.Is(err, lock.ErrBusy):
			return "", end(ResultLostRace, "already in progress: another run of %s holds %s after %s", r.Service.Name, path, r.LockWait)
		case err != nil:
			return "", unusable(err)
		}
		return "waited for a concurrent run", nil
	})
	if err != nil {
		return err
	}
	defer l.Unlock()

	st := loadState(r.Inventory.StateDir, r.Service.Name)
	if r.Event != "" && st.Event == r.Event && st.Action == rep.Action && st.OK() && r.now().Sub(st.Finished) < r.DedupWindow {
		rep.ServedFrom = st.ServedFrom
		return end(ResultAlreadyDone, "event %s already handled at %s (%s)", r.Event, st.Finished.Format(time.RFC3339), st.ServedFrom)
	}
	if waited && st.Action == rep.Action && st.OK() && r.now().Sub(st.Finished) < r.DedupWindow {
		rep.ServedFrom = st.ServedFrom
		return end(ResultAlreadyDone, "already in progress: a concurrent run finished it (%s)", st.ServedFrom)
	}
	if waited && r.Relocate != nil {
		// The run we waited for may have been a vcr-migrate that moved the container.
		if err := r.step(rep, "locate", func() (string, error) {
			c, standby, err := r.Relocate(ctx)
			if err != nil {
				return "", end(ResultContainer, "%v", err)
			}
			r.Containers, r.Standby = c, standby
			return "container on " + standby, nil
		}); err != nil {
			return err
		}
	}
	err = f(ctx, rep)
	var o *outcome
	if err == nil || (errors.As(err, &o) && (o.result == ResultAlreadyDone || o.result == ResultLostRace)) {
		// The run's result stands (the service is where DNS says); but without the
		// state a repeat of this event, or a run that waited for this one, does the
		// work again: say so where people look, the log and the report.
		if serr := saveState(r.Inventory.StateDir, r.Service.Name, state{Event: r.Event, Action: rep.Action, Result: resultOf(err), ServedFrom: rep.ServedFrom, Finished: r.now()}); serr != nil {
			r.Log.Error("state not saved: a repeat of this event is not recognised", "service", rep.Service, "err", serr)
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("state not saved, a repeat of this event is not recognised: %v", serr))
		}
	}
	return err
}

func resultOf(err error) string {
	var o *outcome
	if errors.As(err, &o) {
		return o.result
	}
	return ResultOK
}

// dnsCheck is the first step of both directions: the primary's address and where the
// name points now.
func (r *Run) dnsCheck(ctx context.Context, rep *Report) (primary netip.Addr, current []netip.Addr, err error) {
	primary = r.Service.PrimaryAddress
	err = r.step(rep, "dns-check", func() (string, error) {
		var lerr error
		current, lerr = r.DNS.Lookup(ctx, r.Service.DNSName)
		if lerr != nil {
			return "", end(ResultDNS, "%v", lerr)
		}
		return fmt.Sprintf("%s -> %v", r.Service.DNSName, current), nil
	})
	return primary, current, err
}

func (r *Run) spec() container.Spec {
	sb := r.Service.Standby
	return container.Spec{Name: sb.Container, Backup: sb.Backup}
}

func (r *Run) where(ip netip.Addr) string {
	return fmt.Sprintf("%s/%s %s", r.standby(), r.Service.Standby.Container, ip)
}

// standby names the server that holds the container.
func (r *Run) standby() string {
	if r.Standby != "" {
		return r.Standby
	}
	return r.Service.Standby.Host
}

// recover is the failover path.
func (r *Run) recover(ctx context.Context, rep *Report) error {
	svc := r.Service
	if err := r.staleEvent(ctx, rep); err != nil {
		return err
	}
	// Where does the name point now? If it already points at our running container, a
	// run before us did the job.
	primary, current, err := r.dnsCheck(ctx, rep)
	if err != nil {
		return err
	}
	if len(current) == 1 && current[0] != primary {
		return r.alreadySwitched(ctx, rep, current[0])
	}
	if len(current) != 1 {
		return end(ResultDNS, "%s has %d A records %v; expected exactly the primary %s", svc.DNSName, len(current), current, primary)
	}

	if err := r.step(rep, "fence", func() (string, error) {
		wait := r.FenceWait
		if r.Force {
			wait = 0 // one check, for the record
		}
		v, err := fence.Await(ctx, r.Fence, svc, wait, r.Clock)
		if err != nil {
			return "", end(ResultRefused, "refused: %v while fencing", err)
		}
		ev := strings.Join(v.Evidence, "; ")
		switch {
		case r.Force:
			return "forced; " + ev, nil
		case v.Maintenance:
			return ev, end(ResultRefused, "refused: %s is in Zabbix maintenance (use -force to recover anyway)", svc.ZabbixHost)
		case v.Serving:
			return ev, end(ResultRefused, "refused: the primary still serves (%s)", ev)
		case !v.Down:
			return ev, end(ResultRefused, "refused: the primary is not confirmed down (%s)", ev)
		}
		return ev, nil
	}); err != nil {
		return err
	}

	ip, err := r.startContainer(ctx, rep)
	if err != nil {
		return err
	}
	if err := r.step(rep, "probe", func() (string, error) {
		pctx, cancel := context.WithTimeout(ctx, svc.Probe.Timeout)
		defer cancel()
		if err := r.Probe(pctx, svc, ip); err != nil {
			return "", end(ResultProbe, "%v", err)
		}
		return fmt.Sprintf("%s ports %v answer", ip, svc.Probe.Ports), nil
	}); err != nil {
		return err
	}
	// From here the container may hold the newest data: no sync may run towards it
	// until a failback. Marked before the switch, so that no moment has the name on
	// the container without the mark; a switch that then fails leaves the mark, which
	// -failback clears (it finds the name on the primary). A mark that cannot be saved
	// (a full disk) does not hold the recovery back: sync also refuses while the name
	// is not on the primary.
	r.step(rep, "direction", func() (string, error) {
		if err := datasync.MarkRecovered(r.Inventory.StateDir, svc.Name, r.by("recover"), r.now()); err != nil {
			r.Log.Error("direction not saved: sync relies on DNS alone to refuse", "service", svc.Name, "err", err)
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("direction not saved, sync relies on DNS alone to refuse: %v", err))
			return "not saved", nil
		}
		return "syncs towards the container stop", nil
	})
	return r.switchName(ctx, rep, primary, ip)
}

// by names this run in the direction state.
func (r *Run) by(action string) string {
	if r.Event != "" {
		return action + " event " + r.Event
	}
	return action
}

// clearDirection lets syncs run towards the container again, after the name is back
// on the primary. A failure leaves syncs refused (safe) and is a warning.
func (r *Run) clearDirection(rep *Report) {
	if err := datasync.ClearRecovered(r.Inventory.StateDir, r.Service.Name, r.by("failback"), r.now()); err != nil {
		r.Log.Error("direction not cleared: syncs stay refused until a -failback saves it", "service", r.Service.Name, "err", err)
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("direction not cleared, syncs stay refused: %v", err))
	}
}

// startContainer ensures the container runs, runs the hooks and returns its address.
func (r *Run) startContainer(ctx context.Context, rep *Report) (netip.Addr, error) {
	svc := r.Service
	if err := r.step(rep, "container", func() (string, error) {
		out, err := r.Containers.Ensure(ctx, r.spec())
		if err != nil {
			return "", end(ResultContainer, "%v", err)
		}
		switch {
		case out.Created:
			return fmt.Sprintf("created %s from %s %s and started it", svc.Standby.Container, svc.Standby.Backup.Kind, svc.Standby.Backup.Source), nil
		case out.Started:
			return "started " + svc.Standby.Container, nil
		}
		return svc.Standby.Container + " was running", nil
	}); err != nil {
		return netip.Addr{}, err
	}
	for _, h := range svc.Hooks {
		if err := r.step(rep, "hook:"+h.Name, func() (string, error) {
			out, err := container.RunHook(ctx, r.Containers, svc.Standby.Container, h)
			if err != nil {
				return out, end(ResultContainer, "%v", err)
			}
			return out, nil
		}); err != nil {
			return netip.Addr{}, err
		}
	}
	var ip netip.Addr
	err := r.step(rep, "address", func() (string, error) {
		actx, cancel := context.WithTimeout(ctx, svc.Probe.Timeout)
		defer cancel()
		var err error
		ip, err = r.Containers.WaitIPv4(actx, svc.Standby.Container, r.Iface)
		if err != nil {
			return "", end(ResultContainer, "%v", err)
		}
		return ip.String(), nil
	})
	return ip, err
}

// switchName moves the name from -> to with the compare-and-set, then confirms it.
func (r *Run) switchName(ctx context.Context, rep *Report, from, to netip.Addr) error {
	name := r.Service.DNSName
	var lost bool
	if err := r.step(rep, "dns", func() (string, error) {
		err := r.DNS.Switch(ctx, name, from, to)
		switch {
		case errors.Is(err, dnsupdate.ErrLostRace):
			lost = true
			return "the name had moved already", nil
		case err != nil:
			return "", end(ResultDNS, "%v", err)
		}
		return fmt.Sprintf("%s %s -> %s", name, from, to), nil
	}); err != nil {
		return err
	}
	var now []netip.Addr
	if err := r.step(rep, "dns-confirm", func() (string, error) {
		var err error
		now, err = r.DNS.Lookup(ctx, name)
		if err != nil {
			return "", end(ResultDNS, "confirm: %v", err)
		}
		return fmt.Sprint(now), nil
	}); err != nil {
		return err
	}
	if len(now) == 1 && now[0] == to {
		if rep.Action == "failback" {
			rep.ServedFrom = "primary " + to.String()
		} else {
			rep.ServedFrom = r.where(to)
		}
		if lost {
			return end(ResultAlreadyDone, "%s already pointed at %s", name, to)
		}
		return nil
	}
	if lost {
		rep.ServedFrom = fmt.Sprint(now)
		return end(ResultLostRace, "another recoverer switched %s first: it points at %v", name, now)
	}
	return end(ResultDNS, "confirm: %s points at %v after the update, want %s", name, now, to)
}

// alreadySwitched handles a name that no longer points at the primary.
func (r *Run) alreadySwitched(ctx context.Context, rep *Report, at netip.Addr) error {
	running, err := r.Containers.Running(ctx, r.Service.Standby.Container)
	if err == nil && running {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		ip, err := r.Containers.WaitIPv4(actx, r.Service.Standby.Container, r.Iface)
		cancel()
		if err == nil && ip == at {
			rep.ServedFrom = r.where(ip)
			if !r.recoveredMarked() {
				if err := datasync.MarkRecovered(r.Inventory.StateDir, r.Service.Name, r.by("recover"), r.now()); err != nil {
					rep.Warnings = append(rep.Warnings, fmt.Sprintf("direction not saved: %v", err))
				}
			}
			return end(ResultAlreadyDone, "%s already points at %s", r.Service.DNSName, r.where(ip))
		}
	}
	rep.ServedFrom = at.String()
	return end(ResultLostRace, "%s already points at %s, not at the primary %s: recovered elsewhere", r.Service.DNSName, at, r.Service.PrimaryAddress)
}

// failback returns the name to the repaired primary.
func (r *Run) failback(ctx context.Context, rep *Report) error {
	svc := r.Service
	primary, current, err := r.dnsCheck(ctx, rep)
	if err != nil {
		return err
	}
	if len(current) == 1 && current[0] == primary {
		// A failback that switched the name but stopped before its end (or a recovery
		// whose switch failed after the mark): finish it.
		rep.ServedFrom = "primary " + primary.String()
		if r.recoveredMarked() {
			if err := r.failbackEnd(ctx, rep); err != nil {
				return err
			}
		}
		return end(ResultAlreadyDone, "%s already points at the primary %s", svc.DNSName, primary)
	}
	if len(current) != 1 {
		return end(ResultDNS, "%s has %d A records %v; expected exactly one", svc.DNSName, len(current), current)
	}
	if err := r.step(rep, "primary-check", func() (string, error) {
		v := r.Fence.Check(ctx, svc)
		ev := strings.Join(v.Evidence, "; ")
		if !v.Serving && !r.Force {
			return ev, end(ResultRefused, "refused: the primary does not serve yet (%s)", ev)
		}
		return ev, nil
	}); err != nil {
		return err
	}
	// The data written while the container served goes back first; any step that
	// fails leaves the name on the container, which still has all of it.
	for _, h := range svc.Failback.Steps() {
		if err := r.step(rep, h.Name, func() (string, error) {
			out, err := container.RunHook(ctx, r.Containers, svc.Standby.Container, h)
			if err != nil {
				rep.ServedFrom = r.where(current[0])
				return out, end(ResultData, "failback step %s failed, nothing switched: %s still points at the container (%v); rerun -failback once it is fixed", h.Name, svc.DNSName, err)
			}
			return out, nil
		}); err != nil {
			return err
		}
	}
	if err := r.switchName(ctx, rep, current[0], primary); err != nil {
		return err
	}
	return r.failbackEnd(ctx, rep)
}

// failbackEnd is what follows the switch back: a warm container's syncs resume, a cold
// one stops (back to costing nothing).
func (r *Run) failbackEnd(ctx context.Context, rep *Report) error {
	svc := r.Service
	r.clearDirection(rep)
	if svc.Standby.Mode != config.ModeCold {
		return nil
	}
	return r.step(rep, "container-stop", func() (string, error) {
		if running, err := r.Containers.Running(ctx, svc.Standby.Container); err == nil && !running {
			return svc.Standby.Container + " was stopped", nil
		}
		if err := r.Containers.Stop(ctx, svc.Standby.Container); err != nil {
			return "", end(ResultContainer, "%v", err)
		}
		return "stopped " + svc.Standby.Container, nil
	})
}

// recoveredMarked reports whether the direction says recovered (an unreadable state
// counts as marked: clearing it is the safe repair).
func (r *Run) recoveredMarked() bool {
	d, err := datasync.LoadDirection(r.Inventory.StateDir, r.Service.Name)
	return err != nil || d.Recovered
}
