// Package migration is one run of vcr-migrate: move a service's container to another
// standby LXD server with a short downtime, and its DNS name with it (shared/DESIGN.md):
//
//	migration lock -> checks -> pre-copy while it runs -> refreshes ->
//	service lock -> recheck -> cut-over: freeze source -> final refresh -> start
//	target -> hooks -> address -> probe -> DNS compare-and-set -> confirm -> stop and
//	delete (or keep) the source -> report
//
// The service's lock (vcr-recover's) is held only from the recheck on: a recovery that
// starts during the pre-copy runs at once, and the recheck then refuses the move if it
// changed anything (ResultChanged), so a migration never switches DNS over a recovery.
//
// No CRIU: LXD upstream is removing it and Debian's fails here. The pre-copy and the
// refreshes read the running container without freezing it (AllowInconsistent); only
// the final refresh runs with the source frozen, and then sees a still, consistent file
// tree (the page cache holds every write the service made). Freezing takes milliseconds
// where even a forced stop takes 0.65 s, and a rollback only thaws the source.
package migration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/dnsupdate"
	"github.com/vcrcovery/vcrcovery/internal/lock"
	"github.com/vcrcovery/vcrcovery/internal/recovery"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Stop modes: how the cut-over takes the source out of service.
const (
	// StopFreeze freezes the source (default): milliseconds, and the rollback thaws it.
	StopFreeze = "freeze"
	// StopForce kills it (LXD stop --force, about 0.65 s on the lab).
	StopForce = "force"
	// StopGraceful asks its init to shut down for up to StopTimeout, then forces: for
	// services that must close their files cleanly; the wait adds to the downtime
	// (busybox's init alone takes 2.7 s).
	StopGraceful = "graceful"
)

// Move configures one migration.
type Move struct {
	Inventory *config.Inventory
	Service   *config.Service
	// To names the target standbys entry.
	To         string
	KeepSource bool // keep the source container, stopped, instead of deleting it
	DryRun     bool
	// Stop is StopFreeze (default), StopForce or StopGraceful.
	Stop        string
	StopTimeout time.Duration // StopGraceful only (default 10s)
	// LockWait is how long to wait for a recovery or migration of the same service
	// (default 5s); then the move is refused.
	LockWait time.Duration
	// MaxRefreshes bounds the refreshes while the service runs (default 3); they stop
	// early once one takes less than DeltaTime (default 1s): the final refresh, with the
	// source frozen, will then be about as short.
	MaxRefreshes int
	DeltaTime    time.Duration
	// Iface is the container's interface that carries the service (default eth0).
	Iface string

	DNS DNS
	// Probe waits until addr serves the service's ports or ctx ends.
	Probe recovery.Prober
	// Maintenance reports whether a Zabbix host is in maintenance (nil: not checked).
	Maintenance func(ctx context.Context, host string) (bool, error)
	// Connect opens a standby's LXD server (default container.Connect).
	Connect  func(ctx context.Context, s config.Standby) (*container.Server, error)
	Reporter Reporter // may be nil
	// Progress gets the phase and LXD's progress text while data moves, and an empty
	// text when the phase ends (nil: none).
	Progress func(phase, text string)
	Log      *slog.Logger
	Now      func() time.Time

	api *zabbix.Pending // set by Wire, logged out by Close
}

// DNS is what a move needs of the authoritative server.
type DNS interface {
	Switch(ctx context.Context, name string, from, to netip.Addr) error
	Lookup(ctx context.Context, name string) ([]netip.Addr, error)
}

// Reporter tells Zabbix how the move went; its failure is logged, never changes the
// exit code.
type Reporter interface {
	Report(ctx context.Context, r *Report) error
}

// Report is the outcome of a move; -json prints it.
type Report struct {
	Service  string `json:"service"`
	Action   string `json:"action"` // migrate
	From     string `json:"from,omitempty"`
	To       string `json:"to"`
	DryRun   bool   `json:"dry_run,omitempty"`
	Result   string `json:"result"`
	ExitCode int    `json:"exit_code"`
	Message  string `json:"message"`
	// Seconds is the whole run; DowntimeSeconds from the moment the source stopped
	// serving (frozen or stopped) until the target answered the probe, and
	// CutoverSeconds until the name pointed at the target (the client's view, before
	// caches).
	Seconds         float64         `json:"seconds"`
	DowntimeSeconds float64         `json:"downtime_seconds,omitempty"`
	CutoverSeconds  float64         `json:"cutover_seconds,omitempty"`
	Steps           []recovery.Step `json:"steps"`
	// ServedFrom says where the service runs at the end: "big/web1 10.77.3.120".
	ServedFrom string `json:"served_from,omitempty"`
	// DNSSwitched: the name was moved (false for a standby that does not serve).
	DNSSwitched bool      `json:"dns_switched"`
	Started     time.Time `json:"started"`
	Plan        []string  `json:"plan,omitempty"`
}

// Results, as reported to Zabbix (vcr.migrate.result) and in -json.
const (
	ResultOK            = "ok"
	ResultRefused       = "refused"
	ResultTargetRefused = "target-refused"
	ResultContainer     = "container-failed"
	ResultProbe         = "probe-timeout"
	ResultDNS           = "dns-failed"
	ResultLostRace      = "lost-race"
	ResultPlanned       = "planned"
	ResultUsage         = "usage"
	// ResultChanged: under the service's lock, the container or its name was found
	// changed since the pre-copy began (a recovery ran meanwhile): refused, copy removed.
	ResultChanged        = "changed"
	resultRolledBackNote = " (rolled back: the source serves again, DNS untouched)"
)

// ResultCannotRun: the move could not start at all (state_dir or its locks unusable);
// nothing was looked at or changed.
const ResultCannotRun = "cannot-run"

var exitCodes = map[string]int{
	ResultOK: cli.ExitOK, ResultPlanned: cli.ExitOK, ResultUsage: cli.ExitUsage,
	ResultRefused: cli.ExitRefused, ResultChanged: cli.ExitRefused, ResultContainer: cli.ExitContainer, ResultProbe: cli.ExitProbe,
	ResultDNS: cli.ExitDNS, ResultLostRace: cli.ExitLostRace, ResultTargetRefused: cli.ExitTargetRefused,
	ResultCannotRun: cli.ExitRuntime,
}

// Errors a caller (or a test) can branch on; every refusal of the target wraps
// ErrTargetRefused.
var (
	ErrTargetRefused = errors.New("the target refuses the container")
	ErrUnmapped      = errors.New("network missing on the target and not mapped")
)

// outcome ends a move early with a result.
type outcome struct {
	result string
	msg    string
	err    error
}

func (o *outcome) Error() string { return o.msg }
func (o *outcome) Unwrap() error { return o.err }

func end(result, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &outcome{result: result, msg: err.Error(), err: err}
}

// targetRefused ends a move with ResultTargetRefused; the error wraps ErrTargetRefused.
func targetRefused(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &outcome{result: ResultTargetRefused, msg: msg, err: fmt.Errorf("%s: %w", msg, ErrTargetRefused)}
}

func (m *Move) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// step times f as the step name, records it and logs it once.
func (m *Move) step(rep *Report, name string, f func() (string, error)) error {
	s, err := recovery.TimeStep(m.Log, m.now, rep.Service, name, f)
	rep.Steps = append(rep.Steps, s)
	return err
}

func (m *Move) defaults() {
	if m.Iface == "" {
		m.Iface = "eth0"
	}
	if m.Stop == "" {
		m.Stop = StopFreeze
	}
	if m.StopTimeout <= 0 {
		m.StopTimeout = 10 * time.Second
	}
	if m.LockWait <= 0 {
		m.LockWait = 5 * time.Second
	}
	if m.MaxRefreshes <= 0 {
		m.MaxRefreshes = 3
	}
	if m.DeltaTime <= 0 {
		m.DeltaTime = time.Second
	}
	if m.Connect == nil {
		m.Connect = container.Connect
	}
}

// Execute performs the move and returns its report (never nil). ExitCode is set.
func (m *Move) Execute(ctx context.Context) *Report {
	m.defaults()
	rep := &Report{Service: m.Service.Name, Action: "migrate", To: m.To, DryRun: m.DryRun, Started: m.now()}
	var err error
	if m.DryRun {
		err = m.plan(ctx, rep)
	} else {
		err = m.run(ctx, rep)
	}
	var o *outcome
	switch {
	case err == nil:
		rep.Result, rep.Message = ResultOK, "done"
		if m.DryRun {
			rep.Result, rep.Message = ResultPlanned, "planned"
		}
	case errors.As(err, &o):
		rep.Result, rep.Message = o.result, o.msg
	default:
		rep.Result, rep.Message = ResultContainer, err.Error()
	}
	rep.ExitCode = exitCodes[rep.Result]
	rep.Seconds = m.now().Sub(rep.Started).Seconds()
	if m.Reporter != nil && !m.DryRun {
		rep.Steps = append(rep.Steps, recovery.TimeReport(m.Log, m.now, rep.Service, func() error { return m.Reporter.Report(ctx, rep) }))
	}
	level := slog.LevelInfo
	if rep.ExitCode != 0 {
		level = slog.LevelWarn
	}
	m.Log.Log(ctx, level, "migrate finished", "service", rep.Service, "from", rep.From, "to", rep.To,
		"result", rep.Result, "exit_code", rep.ExitCode, "duration_seconds", rep.Seconds,
		"downtime_seconds", rep.DowntimeSeconds, "served_from", rep.ServedFrom, "message", rep.Message)
	return rep
}

// run holds the service's migration lock for the whole move, so that two migrations of
// one service never overlap (a second one waits -lock-wait, then is refused), and then
// moves. The service's lock, the one vcr-recover takes, is held only for the cut-over
// (cutoverLocked): a recovery never waits behind a long pre-copy.
func (m *Move) run(ctx context.Context, rep *Report) error {
	l, err := m.acquire(ctx, rep, "migrate-lock", lock.MigratePath(m.Inventory.StateDir, m.Service.Name), "another migration")
	if err != nil {
		return err
	}
	defer l.Unlock()
	return m.move(ctx, rep)
}

// acquire takes the lock at path as step name, waiting up to LockWait for holder.
func (m *Move) acquire(ctx context.Context, rep *Report, name, path, holder string) (*lock.Lock, error) {
	var l *lock.Lock
	err := m.step(rep, name, func() (string, error) {
		lctx, cancel := context.WithTimeout(ctx, m.LockWait)
		defer cancel()
		var err error
		l, err = lock.Acquire(lctx, path)
		if errors.Is(err, lock.ErrBusy) {
			return "", end(ResultRefused, "refused: %s of %s is running (it holds %s for more than %s)", holder, m.Service.Name, path, m.LockWait)
		}
		if err != nil {
			// Not a concurrent run: the lock cannot be taken at all (read-only, not a folder).
			return "", end(ResultCannotRun, "cannot run: state_dir/locks unusable: %v", err)
		}
		return "", nil
	})
	return l, err
}

// cutoverLocked takes the service's lock, checks that nothing the pre-copy assumed has
// changed meanwhile (a recovery that ran during the pre-copy takes the lock at once and
// may have started the container, moved it or switched the name), and only then runs
// the cut-over (or, for a stopped container, the finish). A change refuses the move
// (ResultChanged) and removes the copy: the recovery's outcome stands, DNS untouched.
func (m *Move) cutoverLocked(ctx context.Context, rep *Report, e *endpoints) error {
	l, err := m.acquire(ctx, rep, "lock", lock.ServicePath(m.Inventory.StateDir, m.Service.Name), "a recovery or migration")
	if err != nil {
		m.removeTarget(ctx, rep, e)
		return err
	}
	defer l.Unlock()
	if err := m.step(rep, "recheck", func() (string, error) { return m.recheck(ctx, e) }); err != nil {
		m.removeTarget(ctx, rep, e)
		return err
	}
	if !e.info.Running {
		// A stopped container is consistent already: the copy is the move.
		return m.finish(ctx, rep, e, netip.Addr{})
	}
	return m.cutover(ctx, rep, e)
}

// recheck compares what the checks saw before the pre-copy with what is true now,
// under the service's lock: the container on the same server in the same state, the
// target's copy still there and stopped, the source's address and the name's answer
// unchanged.
func (m *Move) recheck(ctx context.Context, e *endpoints) (string, error) {
	name := m.Service.Standby.Container
	changed := func(format string, args ...any) error {
		return end(ResultChanged, "refused: %s changed during the pre-copy (a recovery ran?): %s; the copy on %s is removed, nothing else was changed",
			m.Service.Name, fmt.Sprintf(format, args...), m.To)
	}
	pl, err := container.Pick(container.Locate(ctx, m.Inventory, name), m.Service.Standby.Host)
	if err != nil {
		return "", changed("locate %s: %v", name, err)
	}
	if pl.Standby != e.from || pl.Running != e.info.Running {
		return "", changed("container %s was on %s (running=%v), now on %s (running=%v)", name, e.from, e.info.Running, pl.Standby, pl.Running)
	}
	info, err := e.src.Inspect(ctx, name)
	if err != nil {
		return "", changed("%v", err)
	}
	if info.Status != e.info.Status {
		return "", changed("container %s was %s on %s, now %s", name, e.info.Status, e.from, info.Status)
	}
	if running, err := e.dst.Running(ctx, name); err != nil || running {
		return "", changed("the copy on %s: running=%v %v", m.To, running, err)
	}
	if e.srcAddr.IsValid() {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ip, err := e.src.WaitIPv4(actx, name, m.Iface)
		cancel()
		if err != nil || ip != e.srcAddr {
			return "", changed("source address was %s, now %s %v", e.srcAddr, ip, err)
		}
	}
	now, err := m.DNS.Lookup(ctx, m.Service.DNSName)
	if err != nil {
		return "", end(ResultDNS, "%v", err)
	}
	if !sameAddrs(now, e.dnsBefore) {
		return "", changed("%s pointed at %v, now at %v", m.Service.DNSName, e.dnsBefore, now)
	}
	return fmt.Sprintf("unchanged: %s on %s, %s -> %v", name, e.from, m.Service.DNSName, now), nil
}

// sameAddrs reports whether a and b hold the same addresses, in any order.
func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// endpoints is what the checks found: both servers, the container and its addresses.
type endpoints struct {
	src, dst   *container.Server
	from       string // source standby name
	info       container.Info
	devices    map[string]map[string]string // for the target (network mapping); nil: as is
	srcAddr    netip.Addr                   // the running source's address (invalid if stopped)
	serving    bool                         // the name points at srcAddr
	dnsBefore  []netip.Addr                 // the name's answer at the check
	mapped     []string                     // "eth1: vcrsb0 -> vcrbig0"
	targetNote string
	// freezeDone waits for LXD's freeze operation of the source, which Freeze does not
	// wait for (nil: no freeze pending); settleFreeze calls it.
	freezeDone func() error
}

// check finds the container, refuses what cannot work and leaves both servers untouched.
func (m *Move) check(ctx context.Context, rep *Report) (*endpoints, error) {
	svc := m.Service
	name := svc.Standby.Container
	tsb, ok := m.Inventory.Standby(m.To)
	if !ok {
		return nil, end(ResultUsage, "no standby %q in the inventory", m.To)
	}
	e := &endpoints{}
	if m.Maintenance != nil {
		if err := m.step(rep, "maintenance", func() (string, error) {
			return m.checkMaintenance(ctx, tsb)
		}); err != nil {
			return nil, err
		}
	}
	if err := m.step(rep, "locate", func() (string, error) {
		places := container.Locate(ctx, m.Inventory, name)
		var notes []string
		for _, p := range places {
			switch {
			case p.Err != nil:
				notes = append(notes, fmt.Sprintf("%s: %v", p.Standby, p.Err))
			case p.Running:
				notes = append(notes, p.Standby+": running")
			case p.Exists:
				notes = append(notes, p.Standby+": stopped")
			}
			if p.Standby == m.To {
				if p.Server == nil {
					return strings.Join(notes, "; "), targetRefused("target %s unreachable or untrusted: %v", m.To, p.Err)
				}
				e.dst = p.Server
			}
		}
		pl, err := container.Pick(places, svc.Standby.Host)
		switch {
		case errors.Is(err, container.ErrRunsTwice):
			return strings.Join(notes, "; "), end(ResultContainer, "container %s: %v: stop one by hand first", name, err)
		case err != nil:
			return strings.Join(notes, "; "), end(ResultContainer, "container %s: %v", name, err)
		case !pl.Exists:
			return strings.Join(notes, "; "), end(ResultContainer, "container %s exists on no standby server", name)
		case pl.Standby == m.To:
			return strings.Join(notes, "; "), end(ResultUsage, "container %s is on %s already (running=%v): the target must be another standby", name, m.To, pl.Running)
		}
		e.src, e.from = pl.Server, pl.Standby
		rep.From = pl.Standby
		return strings.Join(notes, "; "), nil
	}); err != nil {
		return nil, err
	}
	if info, err := e.src.Inspect(ctx, name); err == nil && info.Status == "Frozen" && !m.DryRun {
		// Only a move that died in its cut-over leaves it so (we hold the migration lock:
		// no other move runs): the service is down until it is thawed, whatever this run
		// decides.
		if err := m.step(rep, "thaw", func() (string, error) {
			return "left frozen by an interrupted move: thawed", e.src.Unfreeze(ctx, name)
		}); err != nil {
			return nil, end(ResultContainer, "thaw the source: %v", err)
		}
	}
	if err := m.step(rep, "target-check", func() (string, error) {
		return m.checkTarget(ctx, e, tsb)
	}); err != nil {
		return nil, err
	}
	return e, m.step(rep, "dns-check", func() (string, error) {
		if e.info.Running {
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			ip, err := e.src.WaitIPv4(actx, name, m.Iface)
			cancel()
			if err != nil {
				return "", end(ResultContainer, "source address: %v", err)
			}
			e.srcAddr = ip
		}
		current, err := m.DNS.Lookup(ctx, svc.DNSName)
		if err != nil {
			return "", end(ResultDNS, "%v", err)
		}
		e.dnsBefore = current
		e.serving = e.srcAddr.IsValid() && len(current) == 1 && current[0] == e.srcAddr
		if e.serving {
			return fmt.Sprintf("%s -> %v: served from %s; the name moves with it", svc.DNSName, current, e.from), nil
		}
		return fmt.Sprintf("%s -> %v: the standby does not serve; DNS is left alone", svc.DNSName, current), nil
	})
}

// checkMaintenance refuses a move while the service's primary or either standby host
// is in a Zabbix maintenance period (fencing reads the same flag): someone is working
// on them. A Zabbix that cannot be asked does not block the move.
func (m *Move) checkMaintenance(ctx context.Context, target *config.Standby) (string, error) {
	hosts := []string{m.Service.ZabbixHost}
	if sb, ok := m.Inventory.Standby(m.Service.Standby.Host); ok {
		hosts = append(hosts, sb.ZabbixHost)
	}
	hosts = append(hosts, target.ZabbixHost)
	var notes []string
	for _, h := range hosts {
		in, err := m.Maintenance(ctx, h)
		switch {
		case err != nil:
			notes = append(notes, fmt.Sprintf("%s: %v", h, err))
		case in:
			return strings.Join(notes, "; "), end(ResultRefused, "refused: Zabbix host %s is in maintenance", h)
		default:
			notes = append(notes, h+": no maintenance")
		}
	}
	return strings.Join(notes, "; "), nil
}

// checkTarget refuses a target that would fail the container: a name clash, missing
// profiles, a network it lacks and the inventory does not map, no capacity, no space.
func (m *Move) checkTarget(ctx context.Context, e *endpoints, tsb *config.Standby) (string, error) {
	name := m.Service.Standby.Container
	info, err := e.src.Inspect(ctx, name)
	if err != nil {
		return "", end(ResultContainer, "%v", err)
	}
	e.info = info
	refuse := func(format string, args ...any) error {
		return targetRefused("target %s refuses %s: %s", m.To, name, fmt.Sprintf(format, args...))
	}
	exists, err := e.dst.Exists(ctx, name)
	if err != nil {
		return "", refuse("%v", err)
	}
	if exists {
		return "", refuse("an instance named %s exists there already (a copy kept by -keep-source, or left by an interrupted move: delete it there first)", name)
	}
	profiles, err := e.dst.Profiles(ctx)
	if err != nil {
		return "", refuse("%v", err)
	}
	for _, p := range info.Profiles {
		if !contains(profiles, p) {
			return "", refuse("profile %s missing there", p)
		}
	}
	devices, mapped, err := MapNetworks(info.Devices, tsb.Network, func(n string) (bool, error) { return e.dst.ManagedNetwork(ctx, n) })
	if err != nil {
		return "", refuse("%v", err)
	}
	e.devices, e.mapped = devices, mapped
	var notes []string
	if len(mapped) > 0 {
		notes = append(notes, "network mapped: "+strings.Join(mapped, ", "))
	}
	if info.Running && tsb.Capacity > 0 {
		n, err := e.dst.RunningCount(ctx)
		if err != nil {
			return "", refuse("%v", err)
		}
		if n+1 > tsb.Capacity {
			return "", refuse("capacity %d running containers, %d run there already", tsb.Capacity, n)
		}
		notes = append(notes, fmt.Sprintf("capacity %d/%d after the move", n+1, tsb.Capacity))
	}
	pool := info.Pool
	if pool == "" {
		pool = "default"
	}
	size, how := info.DiskBytes, "uses"
	if size <= 0 && info.Running {
		// A dir pool reports no usage: measure it (bounded; without a figure the copy's
		// own failure is the check).
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if n, err := e.src.DuUsage(dctx, name); err == nil {
			size, how = n, "holds (du)"
		}
		cancel()
	}
	if free, err := e.dst.PoolFree(ctx, pool); err == nil && size > 0 {
		// The size once: a refresh of a dir pool (rsync) rewrites changed files in place
		// of the old ones; a copy that still runs out is classified by copyFailed.
		if uint64(size) > free {
			return "", refuse("no space: pool %s has %d bytes free, the container %s %d", pool, free, how, size)
		}
		notes = append(notes, fmt.Sprintf("pool %s: %d MB free, container %d MB", pool, free>>20, size>>20))
	}
	return strings.Join(notes, "; "), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// move is the migration proper: checks and pre-copy unlocked, the cut-over locked.
func (m *Move) move(ctx context.Context, rep *Report) error {
	e, err := m.check(ctx, rep)
	if err != nil {
		return err
	}
	name := m.Service.Standby.Container
	copyOpts := func(phase string, refresh bool) container.CopyOptions {
		o := container.CopyOptions{Refresh: refresh, Devices: e.devices}
		if m.Progress != nil {
			o.Progress = func(t string) { m.Progress(phase, t) }
		}
		return o
	}
	if err := m.step(rep, "pre-copy", func() (string, error) {
		defer m.progressDone("pre-copy")
		if err := e.dst.CopyFrom(ctx, e.src, name, copyOpts("pre-copy", false)); err != nil {
			return "", m.copyFailed(err)
		}
		return fmt.Sprintf("%s -> %s while it runs=%v", e.from, m.To, e.info.Running), nil
	}); err != nil {
		m.removeTarget(ctx, rep, e)
		return err
	}
	if !e.info.Running {
		return m.cutoverLocked(ctx, rep, e)
	}
	for i := 1; i <= m.MaxRefreshes; i++ {
		t0 := m.now()
		if err := m.step(rep, fmt.Sprintf("refresh-%d", i), func() (string, error) {
			defer m.progressDone("refresh")
			if err := e.dst.CopyFrom(ctx, e.src, name, copyOpts("refresh", true)); err != nil {
				return "", m.copyFailed(err)
			}
			return "delta while it runs", nil
		}); err != nil {
			m.removeTarget(ctx, rep, e)
			return err
		}
		if m.now().Sub(t0) < m.DeltaTime {
			break
		}
	}
	return m.cutoverLocked(ctx, rep, e)
}

// copyFailed classifies a failed copy or refresh: a target that ran out of space
// (LXD passes on the target rsync's "No space left on device"; when the source's rsync
// fails first it says only "Broken pipe", hence the size check in checkTarget) refuses
// the container; anything else is a container failure.
func (m *Move) copyFailed(err error) error {
	text := strings.ToLower(err.Error())
	if strings.Contains(text, "no space left on device") || strings.Contains(text, "disk quota exceeded") {
		return targetRefused("target %s: no space: %v", m.To, err)
	}
	return end(ResultContainer, "%v", err)
}

// progressDone tells the progress display that a phase ended.
func (m *Move) progressDone(phase string) {
	if m.Progress != nil {
		m.Progress(phase, "")
	}
}

// cutover takes the source out of service, sends the last delta and brings the target
// up; on a failure before the DNS switch it rolls back to the source.
func (m *Move) cutover(ctx context.Context, rep *Report, e *endpoints) error {
	svc := m.Service
	name := svc.Standby.Container
	down := m.now()
	if err := m.step(rep, "source-"+m.Stop, func() (string, error) {
		switch m.Stop {
		case StopFreeze:
			var err error
			e.freezeDone, err = e.src.Freeze(ctx, name)
			return "frozen", err
		case StopForce:
			return "stopped by force", e.src.Stop(ctx, name)
		default:
			sctx, cancel := context.WithTimeout(ctx, m.StopTimeout+5*time.Second)
			defer cancel()
			forced, err := e.src.StopGraceful(sctx, name, m.StopTimeout)
			if forced {
				return fmt.Sprintf("not down after %s: stopped by force", m.StopTimeout), err
			}
			return "stopped cleanly", err
		}
	}); err != nil {
		return m.rollback(ctx, rep, e, end(ResultContainer, "take the source out of service: %v", err))
	}
	if err := m.step(rep, "final-refresh", func() (string, error) {
		if err := e.dst.CopyFrom(ctx, e.src, name, container.CopyOptions{Refresh: true, Devices: e.devices}); err != nil {
			return "", m.copyFailed(err)
		}
		return "", nil
	}); err != nil {
		return m.rollback(ctx, rep, e, err)
	}
	if err := m.step(rep, "target-start", func() (string, error) {
		if err := e.dst.Start(ctx, name); err != nil {
			return "", end(ResultContainer, "%v", err)
		}
		return "started " + name + " on " + m.To, nil
	}); err != nil {
		return m.rollback(ctx, rep, e, err)
	}
	for _, h := range svc.Hooks {
		if err := m.step(rep, "hook:"+h.Name, func() (string, error) {
			hctx, cancel := context.WithTimeout(ctx, h.Timeout)
			defer cancel()
			res, err := e.dst.Exec(hctx, name, h.Command)
			if err != nil {
				return "", end(ResultContainer, "hook %s: %v", h.Name, err)
			}
			if res.ExitCode != 0 {
				return res.Output, end(ResultContainer, "hook %s exited %d: %s", h.Name, res.ExitCode, strings.TrimSpace(res.Output))
			}
			return strings.TrimSpace(res.Output), nil
		}); err != nil {
			return m.rollback(ctx, rep, e, err)
		}
	}
	var ip netip.Addr
	if err := m.step(rep, "address", func() (string, error) {
		actx, cancel := context.WithTimeout(ctx, svc.Probe.Timeout)
		defer cancel()
		var err error
		if ip, err = e.dst.WaitIPv4(actx, name, m.Iface); err != nil {
			return "", end(ResultContainer, "%v", err)
		}
		return ip.String(), nil
	}); err != nil {
		return m.rollback(ctx, rep, e, err)
	}
	if err := m.step(rep, "probe", func() (string, error) {
		pctx, cancel := context.WithTimeout(ctx, svc.Probe.Timeout)
		defer cancel()
		if err := m.Probe(pctx, svc, ip); err != nil {
			return "", end(ResultProbe, "%v", err)
		}
		return fmt.Sprintf("%s ports %v answer", ip, svc.Probe.Ports), nil
	}); err != nil {
		return m.rollback(ctx, rep, e, err)
	}
	rep.DowntimeSeconds = m.now().Sub(down).Seconds()
	if e.serving {
		if err := m.switchName(ctx, rep, e, ip); err != nil {
			return err
		}
	}
	rep.CutoverSeconds = m.now().Sub(down).Seconds()
	return m.finish(ctx, rep, e, ip)
}

// switchName moves the name from the source to the target with the compare-and-set.
// A failure that leaves the name at the source rolls back (the source serves, as DNS
// says); one that leaves it unknown keeps the target running and the source frozen or
// stopped, and says so.
func (m *Move) switchName(ctx context.Context, rep *Report, e *endpoints, to netip.Addr) error {
	name := m.Service.DNSName
	serr := m.step(rep, "dns", func() (string, error) {
		if err := m.DNS.Switch(ctx, name, e.srcAddr, to); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s %s -> %s", name, e.srcAddr, to), nil
	})
	var now []netip.Addr
	cerr := m.step(rep, "dns-confirm", func() (string, error) {
		var err error
		now, err = m.DNS.Lookup(ctx, name)
		return fmt.Sprint(now), err
	})
	switch {
	case cerr == nil && len(now) == 1 && now[0] == to:
		// The update went through, even if its answer was lost.
		rep.DNSSwitched = true
		return nil
	case cerr == nil && len(now) == 1 && now[0] == e.srcAddr:
		return m.rollback(ctx, rep, e, end(ResultDNS, "switch %s to %s: %v", name, to, serr))
	case errors.Is(serr, dnsupdate.ErrLostRace) && cerr == nil:
		return m.rollback(ctx, rep, e, end(ResultLostRace, "%s moved to %v meanwhile (another recoverer): not switched", name, now))
	}
	left := "stopped"
	if m.Stop == StopFreeze {
		left = "frozen"
	}
	rep.ServedFrom = fmt.Sprintf("%s/%s %s (the source on %s is left %s; DNS state unknown)", m.To, m.Service.Standby.Container, to, e.from, left)
	return end(ResultDNS, "switch %s %s -> %s: %v; confirm: %v %v: the target serves at %s, DNS may still point at the source: check and switch by hand",
		name, e.srcAddr, to, serr, now, cerr, to)
}

// finish stops (if frozen) and deletes or keeps the source once the target has it.
func (m *Move) finish(ctx context.Context, rep *Report, e *endpoints, ip netip.Addr) error {
	name := m.Service.Standby.Container
	if ip.IsValid() {
		rep.ServedFrom = fmt.Sprintf("%s/%s %s", m.To, name, ip)
	} else {
		rep.ServedFrom = fmt.Sprintf("%s/%s (stopped)", m.To, name)
	}
	return m.step(rep, "source-cleanup", func() (string, error) {
		m.settleFreeze(e)
		if e.info.Running {
			if err := e.src.Stop(ctx, name); err != nil {
				return "", end(ResultContainer, "the target serves; stop the source: %v", err)
			}
		}
		if m.KeepSource {
			return "kept " + name + " stopped on " + e.from, nil
		}
		if err := e.src.Delete(ctx, name); err != nil {
			return "", end(ResultContainer, "the target serves; delete the source: %v", err)
		}
		return "deleted " + name + " on " + e.from, nil
	})
}

// rollback brings the source back first (the downtime ends there), then removes the
// target's copy so a second try starts clean. cause is returned with a note.
func (m *Move) rollback(ctx context.Context, rep *Report, e *endpoints, cause error) error {
	name := m.Service.Standby.Container
	// A cancelled run must still roll back.
	ctx = context.WithoutCancel(ctx)
	rerr := m.step(rep, "rollback", func() (string, error) {
		m.settleFreeze(e)
		var err error
		st, _ := e.src.Inspect(ctx, name)
		switch st.Status {
		case "Frozen":
			err = e.src.Unfreeze(ctx, name)
		case "Running":
		default:
			err = e.src.Start(ctx, name)
		}
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s runs again on %s", name, e.from), nil
	})
	m.removeTarget(ctx, rep, e)
	if e.srcAddr.IsValid() {
		rep.ServedFrom = fmt.Sprintf("%s/%s %s", e.from, name, e.srcAddr)
	}
	var o *outcome
	if errors.As(cause, &o) {
		if rerr != nil {
			o.msg += fmt.Sprintf(" (rollback FAILED: %v: the service may be down)", rerr)
		} else {
			o.msg += resultRolledBackNote
		}
		return o
	}
	return cause
}

// settleFreeze waits until LXD's freeze operation of the source has ended (Freeze
// returns when the container is frozen, before it), so that a thaw or a stop never
// overtakes it. Its error is only logged: the container was seen frozen, or the
// freeze's own failure has already ended the cut-over.
func (m *Move) settleFreeze(e *endpoints) {
	if e.freezeDone == nil {
		return
	}
	if err := e.freezeDone(); err != nil {
		m.Log.Warn("source freeze operation", "service", m.Service.Name, "error", err)
	}
	e.freezeDone = nil
}

// removeTarget deletes the target's copy after a failure (stopping it first).
func (m *Move) removeTarget(ctx context.Context, rep *Report, e *endpoints) {
	name := m.Service.Standby.Container
	ctx = context.WithoutCancel(ctx)
	_ = m.step(rep, "target-remove", func() (string, error) {
		exists, err := e.dst.Exists(ctx, name)
		if err != nil || !exists {
			return "nothing to remove", err
		}
		if running, _ := e.dst.Running(ctx, name); running {
			if err := e.dst.Stop(ctx, name); err != nil {
				return "", err
			}
		}
		if err := e.dst.Delete(ctx, name); err != nil {
			return "", err
		}
		return "removed the copy on " + m.To, nil
	})
}
