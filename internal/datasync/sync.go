package datasync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/atomicfile"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/lock"
)

// Results of one service's sync, as reported to Zabbix (vcr.sync.result) and logged.
const (
	ResultOK      = "ok"
	ResultNotDue  = "not-due"           // its period has not passed since the last run
	ResultRefused = "refused-recovered" // the name is on the container: never sync towards it
	ResultBusy    = "busy"              // a recovery, failback or migration holds the lock
	ResultFailed  = "failed"            // the command exited non-zero or could not run
	ResultTimeout = "timeout"           // killed at sync.timeout
	ResultBadLag  = "bad-lag"           // lag_command printed no number of seconds
	ResultError   = "error"             // the container, DNS or direction state unusable
)

// Containers is what a sync needs of the LXD server that holds the container.
type Containers interface {
	container.Execer
	BackupCreated(ctx context.Context, b config.Backup) (time.Time, error)
}

// DNS looks up where a service's name points.
type DNS interface {
	Lookup(ctx context.Context, name string) ([]netip.Addr, error)
}

// Runner runs the due syncs of some services, one after the other.
type Runner struct {
	Inventory *config.Inventory
	// Locate returns the LXD server that holds svc's container now (it may have been
	// migrated away from its standby.host).
	Locate func(ctx context.Context, svc *config.Service) (Containers, error)
	DNS    DNS
	// Reporter sends each outcome to Zabbix (nil: not reported); its failure is logged.
	Reporter Reporter
	// Force runs a sync that is not due yet (never one towards a recovered container).
	Force bool
	Log   *slog.Logger
	Now   func() time.Time // nil: time.Now
}

// Outcome is one service's sync and backup freshness.
type Outcome struct {
	Service string `json:"service"`
	// Result is one of the Result constants; "" for a service without sync (backup only).
	Result  string  `json:"result,omitempty"`
	Message string  `json:"message,omitempty"`
	Seconds float64 `json:"seconds"` // of the command; 0 when none ran
	// Age is how old the standby's data is: the RPO a failover now would have (with a
	// command: since the start of the last successful run; with lag_command: the lag it
	// printed, plus the time since). Unknown (never synced, or recovered): nil.
	Age    *float64 `json:"age_seconds,omitempty"`
	MaxAge float64  `json:"max_age_seconds,omitempty"`
	// BackupAge is a cold standby's backup's age when it is watched (backup.max_age).
	BackupAge    *float64 `json:"backup_age_seconds,omitempty"`
	BackupMaxAge float64  `json:"backup_max_age_seconds,omitempty"`
	BackupError  string   `json:"backup_error,omitempty"`
}

// Failed reports whether a sync or a backup check failed (vcr-recover -sync exits 9).
func (o Outcome) Failed() bool {
	switch o.Result {
	case ResultFailed, ResultTimeout, ResultBadLag, ResultError:
		return true
	}
	return o.BackupError != ""
}

// Watched reports whether vcr-recover -sync has anything to do for svc: a sync, or a
// cold standby's backup age.
func Watched(svc *config.Service) bool {
	return svc.Sync != nil || svc.Standby.Backup.MaxAge > 0
}

// syncState is what the last sync of a service left, in state_dir/sync/NAME.json.
type syncState struct {
	LastRun  time.Time `json:"last_run"`
	DataAsOf time.Time `json:"data_as_of"` // zero: never synced
	Result   string    `json:"result"`
}

func syncPath(stateDir, service string) string {
	return filepath.Join(stateDir, "sync", service+".json")
}

// loadSync returns the zero state when there is none or it is unreadable: it only
// holds the schedule and the age, never a decision about direction.
func loadSync(stateDir, service string) syncState {
	var s syncState
	if b, err := os.ReadFile(syncPath(stateDir, service)); err == nil {
		_ = json.Unmarshal(b, &s)
	}
	return s
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Run handles each watched service in turn: a failure of one never stops the next.
// Each outcome is logged as one line and reported.
func (r *Runner) Run(ctx context.Context, services []*config.Service) []Outcome {
	var out []Outcome
	for _, svc := range services {
		if !Watched(svc) {
			continue
		}
		t0 := r.now()
		o := r.one(ctx, svc)
		level := slog.LevelInfo
		if o.Failed() {
			level = slog.LevelWarn
		}
		attrs := []any{"service", o.Service, "result", o.Result, "duration_seconds", r.now().Sub(t0).Seconds()}
		if o.Age != nil {
			attrs = append(attrs, "age_seconds", *o.Age, "max_age_seconds", o.MaxAge)
		}
		if o.BackupAge != nil {
			attrs = append(attrs, "backup_age_seconds", *o.BackupAge)
		}
		if o.BackupError != "" {
			attrs = append(attrs, "backup_error", o.BackupError)
		}
		r.Log.Log(ctx, level, "sync finished", append(attrs, "message", o.Message)...)
		if r.Reporter != nil {
			if err := r.Reporter.Report(ctx, svc, o); err != nil {
				r.Log.Warn("report to zabbix failed", "service", svc.Name, "err", err)
			}
		}
		out = append(out, o)
	}
	return out
}

func (r *Runner) one(ctx context.Context, svc *config.Service) Outcome {
	o := Outcome{Service: svc.Name}
	var c Containers
	locate := func() error {
		if c != nil {
			return nil
		}
		var err error
		c, err = r.Locate(ctx, svc)
		return err
	}
	if svc.Sync != nil {
		o.MaxAge = svc.Sync.MaxAge.Seconds()
		r.sync(ctx, svc, &o, locate, &c)
	}
	if b := svc.Standby.Backup; b.MaxAge > 0 {
		o.BackupMaxAge = b.MaxAge.Seconds()
		var created time.Time
		err := locate()
		if err == nil {
			created, err = c.BackupCreated(ctx, b)
		}
		if err != nil {
			o.BackupError = fmt.Sprintf("backup %s %s: %v", b.Kind, b.Source, err)
		} else {
			age := r.now().Sub(created).Seconds()
			o.BackupAge = &age
		}
	}
	return o
}

// sync runs svc's sync if it may and is due, and fills in o.
func (r *Runner) sync(ctx context.Context, svc *config.Service, o *Outcome, locate func() error, c *Containers) {
	st := loadSync(r.Inventory.StateDir, svc.Name)
	age := func(st syncState) {
		if !st.DataAsOf.IsZero() {
			a := r.now().Sub(st.DataAsOf).Seconds()
			o.Age = &a
		}
	}
	// The direction is checked under the service's lock, so that no recovery or
	// failback is half-way; the command itself runs without it: a recovery must never
	// wait for a sync (see README, "Standby data").
	if res, msg := r.mayRun(ctx, svc); res != "" {
		o.Result, o.Message = res, msg
		if res != ResultRefused {
			age(st)
		}
		return
	}
	if !r.Force && !st.LastRun.IsZero() && r.now().Sub(st.LastRun) < svc.Sync.Period {
		o.Result = ResultNotDue
		o.Message = fmt.Sprintf("last run %s, period %s", st.LastRun.Format(time.RFC3339), svc.Sync.Period)
		age(st)
		return
	}
	if err := locate(); err != nil {
		o.Result, o.Message = ResultError, err.Error()
		age(st)
		return
	}
	cmd, name := svc.Sync.Command, "sync"
	if cmd == nil {
		cmd, name = svc.Sync.LagCommand, "sync-lag"
	}
	start := r.now()
	out, err := container.RunHook(ctx, *c, svc.Standby.Container, config.Hook{Name: name, Command: cmd, Timeout: svc.Sync.Timeout})
	o.Seconds = r.now().Sub(start).Seconds()
	st.LastRun = start
	switch {
	case errors.Is(err, container.ErrHookTimeout):
		o.Result, o.Message = ResultTimeout, err.Error()
	case err != nil:
		o.Result, o.Message = ResultFailed, err.Error()
	case svc.Sync.LagCommand != nil:
		lag, perr := parseLag(out)
		if perr != nil {
			o.Result, o.Message = ResultBadLag, fmt.Sprintf("lag_command %q: %v", cmd, perr)
			break
		}
		o.Result, o.Message = ResultOK, fmt.Sprintf("lag %g s", lag)
		st.DataAsOf = start.Add(-time.Duration(lag * float64(time.Second)))
	default:
		o.Result, o.Message = ResultOK, "synced"
		st.DataAsOf = start
	}
	st.Result = o.Result
	age(st)
	if b, merr := json.Marshal(st); merr == nil {
		if werr := atomicfile.Write(syncPath(r.Inventory.StateDir, svc.Name), b, 0o640); werr != nil {
			// The age reported next time is then too old: safe, and said here.
			o.Message += fmt.Sprintf("; warning: sync state not saved: %v", werr)
		}
	}
}

// mayRun returns a result and its reason when no sync may run towards svc's container
// now, or "" when one may.
func (r *Runner) mayRun(ctx context.Context, svc *config.Service) (string, string) {
	l, err := lock.Try(lock.ServicePath(r.Inventory.StateDir, svc.Name))
	switch {
	case errors.Is(err, lock.ErrBusy):
		return ResultBusy, "another run (recover, failback, migrate) holds the service's lock: skipped this period"
	case err != nil:
		return ResultError, fmt.Sprintf("cannot take the service's lock: %v", err)
	}
	defer l.Unlock()
	d, err := LoadDirection(r.Inventory.StateDir, svc.Name)
	if err != nil {
		return ResultError, fmt.Sprintf("refusing to sync without a readable direction: %v", err)
	}
	if d.Recovered {
		return ResultRefused, fmt.Sprintf("%s was recovered into its container at %s (%s): no sync towards the container until -failback finishes",
			svc.Name, d.Since.Format(time.RFC3339), d.By)
	}
	// The name is the other witness: a switch made by hand, or a mark lost with its
	// disk, must not let the primary overwrite the container either.
	now, err := r.DNS.Lookup(ctx, svc.DNSName)
	if err != nil {
		return ResultError, fmt.Sprintf("refusing to sync without knowing where %s points: %v", svc.DNSName, err)
	}
	if len(now) != 1 || now[0] != svc.PrimaryAddress {
		return ResultRefused, fmt.Sprintf("%s points at %v, not at the primary %s: no sync towards the container", svc.DNSName, now, svc.PrimaryAddress)
	}
	return "", ""
}

// parseLag reads lag_command's output: one non-negative number of seconds.
func parseLag(out string) (float64, error) {
	v, err := strconv.ParseFloat(out, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		if len(out) > 80 {
			out = out[:80] + "..."
		}
		return 0, fmt.Errorf("want a number of seconds of lag, got %q", out)
	}
	return v, nil
}
