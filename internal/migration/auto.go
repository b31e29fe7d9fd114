package migration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/atomicfile"
	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/loadplan"
	"github.com/vcrcovery/vcrcovery/internal/lock"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Auto is one run of vcr-migrate -auto: read every standby's load from LXD, plan moves
// with loadplan, and carry them out one by one with the same Move as a manual run.
type Auto struct {
	Inventory *config.Inventory
	Event     string // the Zabbix event that started it ("" by hand)
	DryRun    bool
	// Sample is the interval between the two CPU readings (default 1s).
	Sample time.Duration
	// Cooldown: a service moved this recently is not moved again (default 30m).
	Cooldown time.Duration
	// Base is the wired Move each planned move is made from (Move.For).
	Base *Move
	// Sender, when set, gets each standby's load (KeyStandbyOverload on its Zabbix
	// host), dry run or not: the "overloaded" trigger of the standby template.
	Sender *zabbix.Sender
	Log    *slog.Logger
	Now    func() time.Time
}

// StandbyLoad is what was read of one standby.
type StandbyLoad struct {
	Name     string  `json:"name"`
	CPUs     float64 `json:"cpus"`
	MemoryMB uint64  `json:"memory_mb"`
	Running  int     `json:"running"`
	// Overload is the highest of count/capacity, CPU and memory use over their
	// thresholds: above 1 the standby is overloaded.
	Overload   float64 `json:"overload"`
	CPUCores   float64 `json:"cpu_cores_used"`
	MemoryUsed uint64  `json:"memory_mb_used"`
	Error      string  `json:"error,omitempty"`
}

// AutoReport is the outcome of an -auto run; -json prints it.
type AutoReport struct {
	Event    string          `json:"event,omitempty"`
	DryRun   bool            `json:"dry_run,omitempty"`
	Loads    []StandbyLoad   `json:"loads"`
	Plan     []loadplan.Move `json:"plan"`
	Stuck    []string        `json:"stuck,omitempty"` // overloaded, no move fits
	Moves    []*Report       `json:"moves,omitempty"`
	Result   string          `json:"result"`
	ExitCode int             `json:"exit_code"`
	Message  string          `json:"message"`
	Seconds  float64         `json:"seconds"`
	// Acknowledged: Event was acknowledged with AckMessage's text (not in a dry run,
	// nor without the Zabbix API).
	Acknowledged bool `json:"acknowledged,omitempty"`
}

func (a *Auto) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Execute reads, plans and (unless DryRun) moves. Its exit code is the first failed
// move's, or 0.
func (a *Auto) Execute(ctx context.Context) *AutoReport {
	if a.Sample <= 0 {
		a.Sample = time.Second
	}
	if a.Cooldown <= 0 {
		a.Cooldown = 30 * time.Minute
	}
	t0 := a.now()
	rep := &AutoReport{Event: a.Event, DryRun: a.DryRun}
	done := func(result, msg string, code int) *AutoReport {
		rep.Result, rep.Message, rep.ExitCode = result, msg, code
		rep.Seconds = a.now().Sub(t0).Seconds()
		a.acknowledge(ctx, rep)
		a.Log.Info("migrate -auto finished", "event", a.Event, "result", result, "exit_code", code,
			"moves", len(rep.Plan), "duration_seconds", rep.Seconds, "message", msg)
		return rep
	}
	// One -auto at a time: two would plan on the same load and could fill one target.
	var l *lock.Lock
	if !a.DryRun {
		lctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		var err error
		l, err = lock.Acquire(lctx, filepath.Join(a.Inventory.StateDir, "locks", "migrate-auto.lock"))
		cancel()
		if errors.Is(err, lock.ErrBusy) {
			return done(ResultRefused, "refused: another vcr-migrate -auto runs", cli.ExitRefused)
		}
		if err != nil {
			return done(ResultCannotRun, "cannot run: state_dir/locks unusable: "+err.Error(), cli.ExitRuntime)
		}
		defer l.Unlock()
	}
	standbys, containers, loads := a.gather(ctx)
	for i := range loads {
		for _, s := range standbys {
			if s.Name == loads[i].Name {
				loads[i].Overload = loadplan.LoadOf(s, containers).Max()
			}
		}
	}
	rep.Loads = loads
	a.sendLoads(ctx, loads)
	moves, stuck := loadplan.Plan(standbys, containers)
	rep.Plan, rep.Stuck = moves, stuck
	for _, m := range moves {
		a.Log.Info("planned move", "service", m.Container, "from", m.From, "to", m.To, "reason", m.Reason)
	}
	if a.DryRun || len(moves) == 0 {
		msg := fmt.Sprintf("%d move(s) planned", len(moves))
		if len(stuck) > 0 {
			msg += fmt.Sprintf("; still over, nothing fits: %v", stuck)
		}
		return done(map[bool]string{true: ResultPlanned, false: ResultOK}[a.DryRun], msg, cli.ExitOK)
	}
	cool := loadCooldown(a.Inventory.StateDir)
	code, result, failed := 0, ResultOK, 0
	for _, pm := range moves {
		svc, _ := a.Inventory.Service(pm.Container)
		r := a.Base.For(svc, pm.To).Execute(ctx)
		rep.Moves = append(rep.Moves, r)
		if r.ExitCode == 0 {
			cool[svc.Name] = a.now()
			saveCooldown(a.Inventory.StateDir, cool)
			continue
		}
		failed++
		if code == 0 {
			code, result = r.ExitCode, r.Result
		}
	}
	return done(result, fmt.Sprintf("%d of %d move(s) done", len(moves)-failed, len(moves)), code)
}

// sendLoads reports each readable standby's overload to its Zabbix host; a failure is
// logged only.
func (a *Auto) sendLoads(ctx context.Context, loads []StandbyLoad) {
	if a.Sender == nil {
		return
	}
	var vals []zabbix.Value
	for _, l := range loads {
		if sb, ok := a.Inventory.Standby(l.Name); ok && l.Error == "" {
			vals = append(vals, zabbix.Value{Host: sb.ZabbixHost, Key: zabbix.KeyStandbyOverload, Value: strconv.FormatFloat(l.Overload, 'f', 4, 64)})
		}
	}
	if _, err := a.Sender.Send(ctx, vals); err != nil {
		a.Log.Warn("report standby loads to zabbix failed", "err", err)
	}
}

// gather reads each standby's size and its running containers' usage, in parallel. An
// unreachable standby is left out of the plan (neither source nor target).
func (a *Auto) gather(ctx context.Context) ([]loadplan.Standby, []loadplan.Container, []StandbyLoad) {
	cool := loadCooldown(a.Inventory.StateDir)
	n := len(a.Inventory.Standbys)
	loads := make([]StandbyLoad, n)
	sbs := make([]*loadplan.Standby, n)
	cs := make([][]loadplan.Container, n)
	connect := a.Base.Connect
	if connect == nil {
		connect = container.Connect
	}
	var wg sync.WaitGroup
	for i, sb := range a.Inventory.Standbys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loads[i].Name = sb.Name
			srv, err := connect(ctx, sb)
			var res container.Resources
			var us []container.Usage
			if err == nil {
				res, err = srv.Resources(ctx)
			}
			if err == nil {
				us, err = srv.Usage(ctx, a.Sample)
			}
			if err != nil {
				loads[i].Error = err.Error()
				return
			}
			sbs[i] = &loadplan.Standby{Name: sb.Name, CPUs: res.CPUs, MemoryBytes: res.MemoryBytes,
				Capacity: sb.Capacity, MaxCPUPercent: sb.MaxCPUPercent, MaxMemoryPercent: sb.MaxMemoryPercent}
			loads[i].CPUs, loads[i].MemoryMB, loads[i].Running = res.CPUs, res.MemoryBytes>>20, len(us)
			for _, u := range us {
				loads[i].CPUCores += u.CPUCores
				loads[i].MemoryUsed += u.MemoryBytes >> 20
				c := loadplan.Container{Name: u.Name, Standby: sb.Name, CPUCores: u.CPUCores, MemoryBytes: u.MemoryBytes, DiskBytes: u.DiskBytes}
				// Only the inventory's services move, and not twice within the cool-down.
				if svc, ok := a.serviceOf(u.Name); ok {
					c.Name = svc
					c.Movable = a.now().Sub(cool[svc]) >= a.Cooldown
				}
				cs[i] = append(cs[i], c)
			}
		}()
	}
	wg.Wait()
	var standbys []loadplan.Standby
	var containers []loadplan.Container
	for i := range sbs {
		if sbs[i] != nil {
			standbys = append(standbys, *sbs[i])
			containers = append(containers, cs[i]...)
		}
	}
	return standbys, containers, loads
}

// serviceOf maps a container name to the service whose container it is.
func (a *Auto) serviceOf(name string) (string, bool) {
	for _, s := range a.Inventory.Services {
		if s.Standby.Container == name {
			return s.Name, true
		}
	}
	return "", false
}

// The cool-down record, StateDir/migrate-auto.json: service -> when -auto last moved
// it. Only -auto reads it; a lost file only allows an early second move.
func cooldownPath(dir string) string { return filepath.Join(dir, "migrate-auto.json") }

func loadCooldown(dir string) map[string]time.Time {
	m := map[string]time.Time{}
	if b, err := os.ReadFile(cooldownPath(dir)); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

func saveCooldown(dir string, m map[string]time.Time) {
	b, _ := json.Marshal(m)
	_ = atomicfile.Write(cooldownPath(dir), b, 0o640)
}

// acknowledge tells the Zabbix event that started the run what the run did, as
// vcr-recover does for its events; a failure is logged only (the moves stand).
func (a *Auto) acknowledge(ctx context.Context, rep *AutoReport) {
	if a.Event == "" || a.DryRun || a.Base == nil || a.Base.api == nil {
		return
	}
	if err := a.Base.api.AckEvent(ctx, a.Event, rep.AckMessage()); err != nil {
		a.Log.Warn("acknowledge the zabbix event failed", "event", a.Event, "err", err)
		return
	}
	rep.Acknowledged = true
}

// AckMessage is the event acknowledgement's text: the outcome, then each move made
// or, with none, the loads that needed none.
func (r *AutoReport) AckMessage() string {
	msg := fmt.Sprintf("vcrcovery migrate -auto: %s (exit %d) in %.1f s: %s", r.Result, r.ExitCode, r.Seconds, r.Message)
	for _, m := range r.Moves {
		msg += fmt.Sprintf("; %s %s -> %s: %s", m.Service, m.From, m.To, m.Result)
		if m.DowntimeSeconds > 0 {
			msg += fmt.Sprintf(", downtime %.3f s", m.DowntimeSeconds)
		}
		if m.ExitCode != 0 {
			msg += " (" + m.Message + ")"
		}
	}
	if len(r.Plan) == 0 && r.Result == ResultOK {
		msg += "; no move needed:"
		if len(r.Stuck) > 0 {
			msg = strings.Replace(msg, "no move needed", "no move fits", 1)
		}
		for _, l := range r.Loads {
			if l.Error != "" {
				msg += fmt.Sprintf(" %s unreadable;", l.Name)
				continue
			}
			msg += fmt.Sprintf(" %s load %.2f;", l.Name, l.Overload)
		}
		msg = strings.TrimSuffix(msg, ";")
	}
	return msg
}
