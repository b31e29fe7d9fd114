// Package sampling is vcr-sender's work: sample every hypervisor's libvirtGuestTable
// over SNMP (many hypervisors at once, a bounded number at a time), turn CpuTime deltas
// into CPU % (package sample), and send CPU %, state, vCPUs, memory and the guests' LLD
// discovery to each hypervisor's Zabbix host. A daemon runs rounds on evenly spaced
// ticks (Run); a cron job runs one round against a state file (Once).
//
// A hypervisor whose agent times out or answers garbage, wrong types, a missing column
// or a non-increasing OID is reported (KeySenderError on its Zabbix host, and one log
// line) and the others are sampled on time: each hypervisor has its own deadline, and
// the ones that failed last time are polled last.
package sampler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/cpuusage"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Sink takes the values of a round; *zabbix.Sender is one.
type Sink interface {
	Send(ctx context.Context, values []zabbix.Value) (zabbix.Result, error)
}

// Options configure an Engine. Inventory, Log, Clock, Sink and Policy.Interval are
// required.
type Options struct {
	Inventory *config.Inventory
	Log       *slog.Logger
	Clock     cpuusage.Clock
	Sink      Sink
	// Policy holds the CPU % thresholds; Policy.Interval is the sampling interval.
	Policy cpuusage.Policy
	Walk   hypervisor.WalkOptions
	// Concurrency is how many hypervisors are polled at once (default 16).
	Concurrency int
	// AgentCache is how long the agents keep their table before reading libvirt again
	// (libvirt-snmp: up to 5 s); 0 for agents that do not cache. See Engine.fresh.
	AgentCache time.Duration
	// FreshWait bounds how long after its tick a sample waits for a fresh table
	// (default Interval/4).
	FreshWait time.Duration
	// DiscoveryEvery is how often the discovery is sent when the guests do not change
	// (default 10 minutes); a change is sent at once.
	DiscoveryEvery time.Duration
	// SummaryLevel is the level of the one line logged per round (debug for a
	// daemon, info for a cron run).
	SummaryLevel slog.Level
	// Version is the build (cli.Build's line) sent as vcr.sender.version with each
	// hypervisor's health items; empty: not sent.
	Version string
}

// Engine samples the inventory's hypervisors. It is not safe for concurrent use: one
// round at a time.
type Engine struct {
	o        Options
	state    *State
	hvs      []*hvRun
	services map[libvirtmib.UUID]*config.Service

	mu             sync.Mutex
	healthRejected bool // the health items were refused once (logged once)
}

// hvRun is one hypervisor: its inventory entry, its open agent, its state.
type hvRun struct {
	cfg   *config.Hypervisor
	agent *hypervisor.Agent
	st    *HypervisorState
}

// New returns an engine continuing from st (NewState() for none). Hypervisors that
// are no longer in the inventory are dropped from st.
func New(o Options, st *State) (*Engine, error) {
	if o.Inventory == nil || o.Log == nil || o.Clock == nil || o.Sink == nil || o.Policy.Interval <= 0 {
		return nil, errors.New("sampling: Inventory, Log, Clock, Sink and Policy.Interval are required")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.FreshWait <= 0 {
		o.FreshWait = o.Policy.Interval / 4
	}
	if o.DiscoveryEvery <= 0 {
		o.DiscoveryEvery = 10 * time.Minute
	}
	if st == nil {
		st = NewState()
	}
	e := &Engine{o: o, state: st, services: map[libvirtmib.UUID]*config.Service{}}
	keep := map[string]bool{}
	for i := range o.Inventory.Hypervisors {
		h := &o.Inventory.Hypervisors[i]
		keep[h.Name] = true
		hs := st.Hypervisors[h.Name]
		if hs == nil {
			hs = &HypervisorState{}
			st.Hypervisors[h.Name] = hs
		}
		e.hvs = append(e.hvs, &hvRun{cfg: h, st: hs})
	}
	for name := range st.Hypervisors {
		if !keep[name] {
			delete(st.Hypervisors, name)
		}
	}
	for i := range o.Inventory.Services {
		s := &o.Inventory.Services[i]
		e.services[s.VMUUID] = s
	}
	return e, nil
}

// State returns the engine's state (to save after a cron round).
func (e *Engine) State() *State { return e.state }

// Close closes the agents' sockets.
func (e *Engine) Close() {
	for _, h := range e.hvs {
		if h.agent != nil {
			h.agent.Close()
			h.agent = nil
		}
	}
}

// Report says what a round did.
type Report struct {
	Tick        cpuusage.Reading
	Hypervisors []HypervisorReport
	// Duration is from the tick to the end of the round.
	Duration time.Duration
}

// Failed counts the hypervisors that could not be sampled and those whose values did
// not all reach Zabbix.
func (r Report) Failed() (sampling, sending int) {
	for _, h := range r.Hypervisors {
		if h.Err != nil {
			sampling++
		}
		if h.SendErr != nil {
			sending++
		}
	}
	return sampling, sending
}

// HypervisorReport is one hypervisor's part of a round.
type HypervisorReport struct {
	Name string
	// Err is why the hypervisor could not be sampled (nil: it was).
	Err error
	// Skipped is why no sample was taken although nothing failed: "too_soon" (less
	// than half an interval after the previous one) or "agent_cache" (the agent's
	// cached table could not be fresh in time).
	Skipped string
	// At is the sample's time; Kind and Counts what package sample made of it.
	At      cpuusage.Reading
	Kind    cpuusage.Kind
	Elapsed time.Duration
	Counts  map[string]int
	Guests  int
	Partial int
	// Requests is the number of GETBULK requests of the walk.
	Requests int
	// Values were sent (discovery and health items not included); Rejected of them
	// were refused by Zabbix.
	Values, Rejected int
	Discovery        bool
	SendErr          error
	// Wait is the time spent waiting for a fresh table, Walk the SNMP walk, Send the
	// time to build the values and hand them to the Sink (real time, not Clock).
	Wait, Walk, Send time.Duration
}

// Round samples every hypervisor once. tick is when the round is due; each hypervisor
// must be done one interval later.
func (e *Engine) Round(ctx context.Context, tick cpuusage.Reading) Report {
	order := slices.Clone(e.hvs)
	// Those that failed last time go last, so dead agents do not hold up the pool.
	slices.SortStableFunc(order, func(a, b *hvRun) int {
		switch {
		case a.st.Failed == b.st.Failed:
			return 0
		case a.st.Failed:
			return 1
		default:
			return -1
		}
	})
	reports := make([]HypervisorReport, len(order))
	budget := tick.Mono + e.o.Policy.Interval
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(e.o.Concurrency, len(order)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				now := e.o.Clock.Now()
				left := budget - now.Mono
				if !e.anchored(order[i].st.Snapshot, now) {
					left += e.o.AgentCache // the first sample waits for the cache
				}
				hctx, cancel := context.WithTimeout(ctx, max(left, time.Millisecond))
				reports[i] = e.poll(hctx, order[i], tick)
				cancel()
			}
		}()
	}
	for i := range order {
		work <- i
	}
	close(work)
	wg.Wait()
	rep := Report{Tick: tick, Hypervisors: reports}
	rep.Duration, _ = e.o.Clock.Now().Since(tick)
	e.logRound(rep)
	return rep
}

// poll samples one hypervisor and sends its values.
func (e *Engine) poll(ctx context.Context, h *hvRun, tick cpuusage.Reading) (rep HypervisorReport) {
	rep.Name = h.cfg.Name
	log := e.o.Log.With("hypervisor", h.cfg.Name)
	// Phases are timed with the real clock: they are figures for people, while
	// e.o.Clock (faked in tests) times the samples.
	began := time.Now()
	start := e.o.Clock.Now()
	defer func() {
		h.st.Failed = rep.Err != nil
		if rep.Err != nil {
			log.Error("hypervisor not sampled", "address", h.cfg.Address, "err", rep.Err, "duration_seconds", time.Since(began).Seconds())
		}
		e.sendHealth(ctx, h, &rep, began)
	}()
	snap := h.st.Snapshot
	if e.o.Policy.TooSoon(snap, start) {
		rep.Skipped = "too_soon"
		return rep
	}
	if h.agent == nil {
		a, err := hypervisor.Dial(ctx, h.cfg)
		if err != nil {
			rep.Err = err
			return rep
		}
		h.agent = a
	}
	at, asked, skip, err := e.fresh(ctx, h.agent, snap, tick)
	rep.Wait = time.Since(began)
	if err != nil {
		rep.Err = err
		return rep
	}
	if skip != "" {
		rep.Skipped = skip
		log.Info("sample skipped", "reason", skip, "wait_seconds", rep.Wait.Seconds())
		return rep
	}
	walkStart := time.Now()
	walk, err := h.agent.WalkGuests(ctx, e.o.Walk)
	rep.Walk = time.Since(walkStart)
	if err == nil {
		err = tableLost(h.cfg.Name, walk, snap)
	}
	if err != nil {
		// The previous sample and the discovery stay: no empty discovery for a
		// table that is only missing.
		rep.Err = err
		return rep
	}
	counters := make([]cpuusage.Counter, len(walk.Guests))
	for i, g := range walk.Guests {
		counters[i] = cpuusage.Counter{UUID: g.UUID, VCPUs: g.VCPUs, CPUTime: g.CPUTime, Running: g.State == libvirtmib.StateRunning}
	}
	round := e.o.Policy.Compare(snap, at, counters)
	if round.Kind == cpuusage.TooSoon {
		rep.Skipped = "too_soon"
		return rep
	}
	round.Next.Asked = asked
	h.st.Snapshot = &round.Next
	rep.At, rep.Kind, rep.Elapsed = at, round.Kind, round.Elapsed
	rep.Guests, rep.Partial, rep.Requests = len(walk.Guests), walk.Partial, walk.Requests
	rep.Counts = map[string]int{}
	for o, n := range round.Counts {
		if n > 0 {
			rep.Counts[cpuusage.Outcome(o).String()] = n
		}
	}
	e.logSample(log, &rep, snap)

	sendStart := time.Now()
	defer func() { rep.Send = time.Since(sendStart) }()
	values := guestValues(h.cfg.ZabbixHost, at, walk.Guests, round.Guests)
	rep.Values = len(values)
	var sendErrs []error
	if hash := e.discoveryHash(walk.Guests); e.discoveryDue(h, hash, at) {
		// Its own request: an LLD rule missing on the host must not make the Sender
		// send the guests' values one by one next time.
		// A refused discovery (no such LLD rule on the host) counts as sent: sending
		// it again every round would not help, the periodic resend will.
		d := e.discoveryValue(h, walk.Guests, at)
		_, err := e.o.Sink.Send(ctx, []zabbix.Value{d})
		if err != nil {
			sendErrs = append(sendErrs, fmt.Errorf("discovery: %w", err))
		}
		if err == nil || errors.Is(err, zabbix.ErrRejected) || errors.Is(err, ErrSpooled) {
			rep.Discovery = true
			h.st.DiscoveryHash, h.st.DiscoveryAt = hash, at
		}
	}
	res, err := e.o.Sink.Send(ctx, values)
	rep.Rejected = len(res.Rejected) + len(res.Ambiguous)
	if err != nil {
		sendErrs = append(sendErrs, err)
	}
	rep.SendErr = errors.Join(sendErrs...)
	return rep
}

// tableLost returns ErrNoTable for a walk without rows from an agent whose previous
// sample had some: libvirt-snmp that lost libvirtd answers an empty table (the lab's
// stand-in, behind snmpd's pass_persist, answers just that), and a hypervisor losing
// every guest between two samples is far less likely than that. The previous sample is
// kept, so the error lasts until rows come back; a hypervisor really emptied of
// guests is accepted once the sender starts without that sample (daemon restarted, or
// the cron state file removed).
func tableLost(name string, w hypervisor.Walk, prev *cpuusage.Snapshot) error {
	if len(w.Guests) > 0 || w.Partial > 0 || prev == nil || len(prev.Guests) == 0 {
		return nil
	}
	return fmt.Errorf("walk libvirtGuestTable of %s: no rows, %d in the previous sample: %w", name, len(prev.Guests), hypervisor.ErrNoTable)
}

// cacheMargin is how long after the agent's cache should have expired the sender asks
// again: the agent measured its cache's age from a moment a little after our reading.
const cacheMargin = 2 * time.Millisecond

// fresh waits, within FreshWait of the tick, until the agent serves a table read after
// the previous sample, and returns the reading that stamps the new sample.
//
// libvirt-snmp keeps its table for up to AgentCache (5 s) and reads libvirt again on
// the first request after that; the sender samples every 5 s. Asked a millisecond too
// early, the agent answers the previous table again: every delta 0 (0 %, which looks
// like a hung guest), then twice the usage in the next sample. So before walking, the
// sender reads the CpuTime of a few guests that were busy last time (the snapshot's
// sentinels, one GET): if one moved, the table is fresh, read by the agent for that
// GET, and the time the answer came stamps the sample (the agent answers right after
// reading libvirt; only a change of that reading's duration between samples is an
// error, |change| / interval). If none moved, it waits until the cache
// has expired and asks again, then a little longer each time, until FreshWait: then
// the sentinels really are idle (or hung, which must be reported as 0 %) and the walk
// goes on. Without sentinels (no running guest has used any CPU), it waits until the
// cache has expired. The first sample (no previous one of this boot within MaxGap)
// waits a whole AgentCache first, so that its time is known too. When a fresh table cannot come
// before FreshWait, the hypervisor skips this tick (skip "agent_cache"): one missing
// sample, whose time the next one's delta covers, instead of a false 0 %.
func (e *Engine) fresh(ctx context.Context, a *hypervisor.Agent, snap *cpuusage.Snapshot, tick cpuusage.Reading) (at, asked cpuusage.Reading, skip string, err error) {
	clk := e.o.Clock
	if e.o.AgentCache <= 0 {
		now := clk.Now()
		return now, now, "", nil
	}
	// touch makes an agent with an expired cache read libvirt, and returns the time
	// of its answer: the agent answers once it has read the values.
	touch := func() (cpuusage.Reading, cpuusage.Reading, string, error) {
		asked := clk.Now()
		err := a.Touch(ctx)
		return clk.Now(), asked, "", err
	}
	if !e.anchored(snap, clk.Now()) {
		// No usable previous sample: the cached table may have been read up to
		// AgentCache ago (for another client, or a previous run), and nothing tells
		// its age. Wait until any cache has expired, then make the agent read
		// libvirt. Only the first sample pays this.
		if err := clk.Sleep(ctx, e.o.AgentCache+cacheMargin); err != nil {
			now := clk.Now()
			return now, now, "", err
		}
		return touch()
	}
	limit := tick.Mono + e.o.FreshWait
	from := snap.Asked
	if from.Mono == 0 {
		from = snap.At
	}
	expiry := from.Mono + e.o.AgentCache + cacheMargin
	waitExpiry := func(now cpuusage.Reading) (string, error) {
		if expiry <= now.Mono {
			return "", nil
		}
		if expiry > limit {
			return "agent_cache", nil
		}
		return "", clk.Sleep(ctx, expiry-now.Mono)
	}
	if len(snap.Sentinels) == 0 {
		if skip, err := waitExpiry(clk.Now()); skip != "" || err != nil {
			now := clk.Now()
			return now, now, skip, err
		}
		return touch()
	}
	step := 5 * time.Millisecond
	for {
		asked := clk.Now()
		cells, err := a.CPUTimes(ctx, snap.Sentinels)
		r := clk.Now()
		if err != nil {
			return r, asked, "", err
		}
		for i, c := range cells {
			if !c.OK || c.Value != snap.Guests[snap.Sentinels[i]].CPUTime {
				return r, asked, "", nil
			}
		}
		// Nothing moved: a cached table, or the sentinels went idle (or hung: then
		// the walk must go on, so that 0 % is reported).
		if expiry > r.Mono {
			if skip, err := waitExpiry(r); skip != "" || err != nil {
				return r, asked, skip, err
			}
			continue
		}
		if r.Mono+step > limit {
			return r, asked, "", nil
		}
		if err := clk.Sleep(ctx, step); err != nil {
			return r, asked, "", err
		}
		step *= 2
	}
}

// anchored reports whether snap can tell when the agent's cache expires: it is a
// sample of this boot, recent enough to be compared with.
func (e *Engine) anchored(snap *cpuusage.Snapshot, now cpuusage.Reading) bool {
	if snap == nil {
		return false
	}
	el, ok := now.Since(snap.At)
	return ok && el <= e.o.Policy.MaxGapOrDefault()
}

// logSample logs what is worth an operator's attention in one hypervisor's sample:
// a gap, and guests whose sample restarted.
func (e *Engine) logSample(log *slog.Logger, rep *HypervisorReport, prev *cpuusage.Snapshot) {
	switch rep.Kind {
	case cpuusage.Late:
		log.Warn("sample gap: values averaged over the gap", "elapsed_seconds", rep.Elapsed.Seconds(),
			"interval_seconds", e.o.Policy.Interval.Seconds())
	case cpuusage.Restart:
		args := []any{"elapsed_seconds", rep.Elapsed.Seconds(), "interval_seconds", e.o.Policy.Interval.Seconds()}
		if prev != nil && prev.At.Boot != rep.At.Boot {
			args = append(args, "reason", "sender host rebooted")
		}
		log.Warn("sample gap: no values, samples restart", args...)
	}
	if n := rep.Counts["absurd"]; n > 0 {
		log.Warn("values above 100 % dropped, samples restart", "guests", n)
	}
	if n := rep.Counts["reset"] + rep.Counts["vcpu_change"]; n > 0 {
		log.Info("samples restart", "cpu_time_reset", rep.Counts["reset"], "vcpu_change", rep.Counts["vcpu_change"])
	}
	if rep.Partial > 0 {
		log.Info("rows left out: the table changed during the walk", "rows", rep.Partial)
	}
}

// logRound logs one line per round, and one for Zabbix trouble.
func (e *Engine) logRound(rep Report) {
	var ok, skipped, guests, values, rejected int
	var sendErr error
	sendFailed := 0
	for _, h := range rep.Hypervisors {
		switch {
		case h.Err != nil:
		case h.Skipped != "":
			skipped++
		default:
			ok++
		}
		guests += h.Guests
		values += h.Values
		rejected += h.Rejected
		if h.SendErr != nil {
			sendFailed++
			if sendErr == nil {
				sendErr = h.SendErr
			}
		}
	}
	if sendErr != nil {
		e.o.Log.Error("values not all accepted by Zabbix", "hypervisors", sendFailed, "rejected", rejected, "err", sendErr)
	}
	e.o.Log.Log(context.Background(), e.o.SummaryLevel, "round",
		"hypervisors", len(rep.Hypervisors), "sampled", ok, "skipped", skipped,
		"failed", len(rep.Hypervisors)-ok-skipped, "guests", guests, "values", values,
		"duration_seconds", rep.Duration.Seconds())
}
