package trapd

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/ratelog"
	"github.com/vcrcovery/vcrcovery/internal/spool"
	"github.com/vcrcovery/vcrcovery/internal/trapd/health"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// item is what one notification produced: values for Zabbix (maybe none) and the
// callback that tells the intake they are durable; from the follower, the record's
// sequence number (logged), for the ledger.
type item struct {
	values []zabbix.Value
	done   func()
	seq    uint64
	logged bool
}

// sender is what the deliverer needs of zabbix.Sender.
type sender interface {
	Send(ctx context.Context, values []zabbix.Value) (zabbix.Result, error)
}

// deliverer sends values to Zabbix in batches, in order, from one goroutine:
//   - live: whatever arrived while the previous request was out goes in the next one
//     (up to batch values), so a single trap leaves at once and a burst in few requests;
//   - when the trapper cannot be reached (or a reply is lost), the batch goes to the
//     disk spool, and so does everything after it until the spool is replayed, oldest
//     first, so Zabbix sees the values in the order the traps came;
//   - values the server refuses (an item that does not exist yet: LLD creates a new
//     guest's items some seconds after its discovery value) are retried for a while,
//     in order, unless a newer value of the same item got in meanwhile.
//
// An item's done is called once its values were accepted, spooled, or held for retry
// (held values go to the spool at shutdown).
//
// With a ledger (see inflight.go), every batch from the follower and every replayed
// batch is recorded before it leaves, so that neither a lost reply nor a crash
// between the server's answer and recording it sends anything twice.
type deliverer struct {
	sender      sender
	spool       *spool.Spool
	counters    *health.Counters
	log         *slog.Logger
	limiter     *ratelog.Limiter
	batch       int
	rejectRetry time.Duration
	retryEvery  time.Duration
	maxHeld     int
	in          chan item
	now         func() time.Time

	// ledger records each batch before it leaves (nil: off); intake is the follower
	// (nil in listen mode), whose position moves with delivered batches; stored asks
	// Zabbix's history which values it holds (nil: no API, so a batch whose fate is
	// unknown is sent again); syncLag bounds the wait for the history syncer.
	ledger  *spool.Ledger
	intake  intake
	stored  func(ctx context.Context, values []zabbix.Value) ([]bool, error)
	syncLag time.Duration
	// heldStore keeps the values held for retry on disk, so that a kill does not lose
	// them (nil: memory only); restore are those a killed run left, held again by run.
	heldStore *spool.Ledger
	restore   []zabbix.Value

	held      []held
	heldPairs map[pair]int       // held values per item
	accepted  map[pair]time.Time // newest clock accepted for items with held values
	nextRetry time.Time
	outage    bool
	backoff   time.Duration
	// uncertain is the spool's head when it was sent and its reply lost.
	uncertain *uncertain
}

type uncertain struct {
	values []zabbix.Value
	sent   time.Time
}

type pair struct{ host, key string }

type held struct {
	v        zabbix.Value
	deadline time.Time
}

const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 10 * time.Second
	// absorbMax bounds the values appended to the spool in one fsync'd write.
	absorbMax = 20000
)

// run delivers until in is closed and drained; ctx ends it early (the drain deadline
// at shutdown), values still pending then going to the spool.
func (d *deliverer) run(ctx context.Context) {
	d.heldPairs, d.accepted = map[pair]int{}, map[pair]time.Time{}
	d.backoff = minBackoff
	d.holdRestored()
	defer d.finish()
	for {
		if d.spool.Values() > 0 {
			if !d.absorb() {
				return // shutting down: the spool keeps the rest for the next start
			}
			if d.replayOne(ctx) {
				continue
			}
			if !d.waitRetry(ctx) {
				return
			}
			continue
		}
		if len(d.held) > 0 && !d.now().Before(d.nextRetry) {
			d.retryHeld(ctx)
		}
		items, open := d.collect(ctx)
		if len(items) > 0 {
			d.sendLive(ctx, items)
		}
		if !open {
			return
		}
	}
}

// collect waits for the first item (or the held-value retry time, or ctx), then takes
// whatever else is queued, up to a batch. open is false once in is closed and empty,
// or ctx ended.
func (d *deliverer) collect(ctx context.Context) (items []item, open bool) {
	var wake <-chan time.Time
	if len(d.held) > 0 {
		t := time.NewTimer(max(d.nextRetry.Sub(d.now()), time.Millisecond))
		defer t.Stop()
		wake = t.C
	}
	n := 0
	select {
	case it, ok := <-d.in:
		if !ok {
			return nil, false
		}
		items, n = append(items, it), len(it.values)
	case <-wake:
		return nil, true
	case <-ctx.Done():
		return nil, false
	}
	for n < d.batch {
		select {
		case it, ok := <-d.in:
			if !ok {
				return items, false
			}
			items, n = append(items, it), n+len(it.values)
		default:
			return items, true
		}
	}
	return items, true
}

func flatten(items []item) []zabbix.Value {
	n := 0
	for _, it := range items {
		n += len(it.values)
	}
	out := make([]zabbix.Value, 0, n)
	for _, it := range items {
		out = append(out, it.values...)
	}
	return out
}

func doneAll(items []item) {
	for _, it := range items {
		if it.done != nil {
			it.done()
		}
	}
}

// sendLive sends one batch; on a transport failure it goes to the spool.
func (d *deliverer) sendLive(ctx context.Context, items []item) {
	values := flatten(items)
	if len(values) == 0 {
		doneAll(items)
		return
	}
	n := d.intend(items, values)
	sent := d.now()
	defer func() {
		doneAll(items)
		d.settle(n)
	}()
	res, err := d.sender.Send(ctx, values)
	d.counters.Sent.Add(uint64(res.Processed))
	if err == nil || errors.Is(err, zabbix.ErrRejected) {
		d.noteAccepted(values, res)
		if err != nil {
			d.hold(res)
		}
		d.backoff = minBackoff
		return
	}
	// Unreachable, or the reply was lost: spool it all. After a lost reply the batch
	// is the spool's head (live sends run only while the spool is empty), and its
	// replay first asks Zabbix's history which values got in (see replayOne), so
	// intake never waits for that answer.
	if !d.outage {
		d.outage = true
		d.log.Warn("zabbix trapper unreachable: spooling values to disk", "err", err, "values", len(values))
	}
	d.toSpool(values)
	if errors.Is(err, zabbix.ErrUncertain) {
		d.uncertain = &uncertain{values: values, sent: sent}
		d.record(spool.FromSpool, values, nil) // checked at the next start too
	}
}

// toSpool appends values to the spool, counting what the bound drops.
func (d *deliverer) toSpool(values []zabbix.Value) {
	dropped, err := d.spool.Append(values)
	if dropped > 0 {
		d.counters.Dropped.Add(uint64(dropped))
		d.limiter.Log(slog.LevelError, "spool_full", "spool full: oldest spooled values dropped", "dropped", dropped)
	}
	if err != nil {
		// The disk refuses: these values are lost. Said loudly, counted.
		d.counters.Dropped.Add(uint64(len(values)))
		d.limiter.Log(slog.LevelError, "spool_write", "cannot write the spool: values lost", "values", len(values), "err", err)
		return
	}
	d.counters.Spooled.Add(uint64(len(values)))
}

// absorb moves every queued item into the spool, behind what is there. It returns
// false once in is closed.
func (d *deliverer) absorb() bool {
	var items []item
	n := 0
	defer func() {
		if len(items) > 0 {
			d.toSpool(flatten(items))
			doneAll(items)
		}
	}()
	for n < absorbMax {
		select {
		case it, ok := <-d.in:
			if !ok {
				return false
			}
			items, n = append(items, it), n+len(it.values)
		default:
			return true
		}
	}
	return true
}

// replayOne sends the oldest spooled batch and reports whether it went through.
func (d *deliverer) replayOne(ctx context.Context) bool {
	values, err := d.spool.Peek()
	if errors.Is(err, spool.ErrEmpty) {
		return true
	}
	if err != nil {
		d.limiter.Log(slog.LevelError, "spool_read", "cannot read the spool", "err", err)
		return false
	}
	head := values
	if u := d.uncertain; u != nil {
		d.uncertain = nil
		if sameBatch(head, u.values) {
			values = d.undelivered(ctx, head, u.sent, "the trapper's reply was lost")
			if len(values) == 0 {
				if err := d.spool.Ack(); err != nil {
					d.limiter.Log(slog.LevelError, "spool_ack", "cannot record replay progress in the spool", "err", err)
				}
				return true
			}
		}
	}
	d.record(spool.FromSpool, head, nil)
	sent := d.now()
	res, err := d.sender.Send(ctx, values)
	if errors.Is(err, zabbix.ErrUncertain) {
		d.counters.Replayed.Add(uint64(res.Processed))
		d.uncertain = &uncertain{values: head, sent: sent}
		return false
	}
	if err != nil && !errors.Is(err, zabbix.ErrRejected) {
		d.counters.Replayed.Add(uint64(res.Processed)) // partly through: see sendLive
		d.limiter.Log(slog.LevelWarn, "replay", "zabbix trapper still unreachable; spool kept", "spooled_values", d.spool.Values(), "err", err)
		return false
	}
	if d.outage {
		d.outage = false
		d.log.Info("zabbix trapper reachable again: replaying the spool", "spooled_values", d.spool.Values())
	}
	d.counters.Replayed.Add(uint64(res.Processed))
	d.noteAccepted(values, res)
	if err != nil {
		d.hold(res)
	}
	if err := d.spool.Ack(); err != nil {
		d.limiter.Log(slog.LevelError, "spool_ack", "cannot record replay progress in the spool", "err", err)
	}
	d.backoff = minBackoff
	if d.spool.Values() == 0 {
		d.log.Info("spool replayed")
	}
	return true
}

// waitRetry waits before the next replay attempt, spooling what arrives meanwhile. It
// returns false when in is closed or ctx ends.
func (d *deliverer) waitRetry(ctx context.Context) bool {
	t := time.NewTimer(d.backoff)
	defer t.Stop()
	d.backoff = min(2*d.backoff, maxBackoff)
	for {
		select {
		case it, ok := <-d.in:
			if !ok {
				return false
			}
			d.toSpool(it.values)
			if it.done != nil {
				it.done()
			}
			if !d.absorb() {
				return false
			}
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

// noteAccepted records, for items with held values, the newest clock accepted, so
// that an older held value never overwrites a newer one.
func (d *deliverer) noteAccepted(values []zabbix.Value, res zabbix.Result) {
	if len(d.heldPairs) == 0 {
		return
	}
	refused := map[zabbix.Value]int{}
	for _, v := range append(append([]zabbix.Value(nil), res.Rejected...), res.Ambiguous...) {
		refused[v]++
	}
	for _, v := range values {
		if refused[v] > 0 {
			refused[v]--
			continue
		}
		p := pair{v.Host, v.Key}
		if d.heldPairs[p] > 0 && v.Clock.After(d.accepted[p]) {
			d.accepted[p] = v.Clock
		}
	}
}

// hold keeps refused values for retry until their deadline: the value's clock plus
// rejectRetry.
func (d *deliverer) hold(res zabbix.Result) {
	now := d.now()
	refused := append(append([]zabbix.Value(nil), res.Rejected...), res.Ambiguous...)
	for _, v := range refused {
		clock := v.Clock
		if clock.IsZero() {
			clock = now
		}
		deadline := clock.Add(d.rejectRetry)
		if now.After(deadline) {
			d.drop(v, "refused by the Zabbix server for longer than -reject-retry")
			continue
		}
		d.held = append(d.held, held{v: v, deadline: deadline})
		d.heldPairs[pair{v.Host, v.Key}]++
	}
	for len(d.held) > d.maxHeld {
		d.drop(d.held[0].v, "too many values waiting for retry")
		d.unhold(d.held[0].v)
		d.held = d.held[1:]
	}
	if len(refused) > 0 {
		d.saveHeld()
		d.limiter.Log(slog.LevelWarn, "refused", "zabbix refused values (item missing, or not yet created by discovery); retrying",
			"values", len(refused), "example", refused[0].String(), "held", len(d.held))
		// Ambiguous values are retried at once (one per request, which tells).
		if len(res.Ambiguous) > 0 {
			d.nextRetry = now
		} else if d.nextRetry.Before(now) {
			d.nextRetry = now.Add(d.retryEvery)
		}
	}
}

func (d *deliverer) unhold(v zabbix.Value) {
	p := pair{v.Host, v.Key}
	if d.heldPairs[p]--; d.heldPairs[p] <= 0 {
		delete(d.heldPairs, p)
		delete(d.accepted, p)
	}
}

func (d *deliverer) drop(v zabbix.Value, why string) {
	d.counters.Dropped.Add(1)
	d.limiter.Log(slog.LevelError, "dropped", "value dropped: "+why, "item", v.String(), "value", v.Value)
}

// retryHeld sends the held values again, in order.
func (d *deliverer) retryHeld(ctx context.Context) {
	now := d.now()
	defer func(n int) {
		if len(d.held) != n {
			d.saveHeld() // the set only shrinks here
		}
	}(len(d.held))
	var values []zabbix.Value
	var keep []held
	for _, h := range d.held {
		p := pair{h.v.Host, h.v.Key}
		if a, ok := d.accepted[p]; ok && !a.Before(h.v.Clock) {
			d.unhold(h.v) // superseded: a newer value of the item got in
			continue
		}
		values = append(values, h.v)
		keep = append(keep, h)
	}
	d.held = keep
	if len(values) == 0 {
		return
	}
	res, err := d.sender.Send(ctx, values)
	d.counters.Sent.Add(uint64(res.Processed))
	d.counters.Retried.Add(uint64(res.Processed))
	if err != nil && !errors.Is(err, zabbix.ErrRejected) {
		d.nextRetry = now.Add(d.retryEvery)
		return // unreachable: keep them all; live sends will start the spool
	}
	refused := map[zabbix.Value]int{}
	for _, v := range append(append([]zabbix.Value(nil), res.Rejected...), res.Ambiguous...) {
		refused[v]++
	}
	keep = keep[:0]
	for _, h := range d.held {
		if refused[h.v] == 0 {
			d.unhold(h.v) // accepted
			continue
		}
		refused[h.v]--
		if now.After(h.deadline) {
			d.drop(h.v, "refused by the Zabbix server for longer than -reject-retry")
			d.unhold(h.v)
			continue
		}
		keep = append(keep, h)
	}
	d.held = keep
	d.nextRetry = now.Add(d.retryEvery)
	if len(res.Ambiguous) > 0 {
		d.nextRetry = now
	}
}

// finish spools the values still held for retry, so a restart retries them, and
// whatever is still queued (when the drain deadline cut delivery short; the intake has
// stopped by then, so the queue only shrinks).
func (d *deliverer) finish() {
	if len(d.held) > 0 {
		values := make([]zabbix.Value, len(d.held))
		for i, h := range d.held {
			values[i] = h.v
		}
		d.toSpool(values)
		d.held = nil
		d.saveHeld()
	}
	var items []item
	defer func() {
		d.toSpool(flatten(items))
		doneAll(items)
	}()
	for {
		select {
		case it, ok := <-d.in:
			if !ok {
				return
			}
			items = append(items, it)
		default:
			return
		}
	}
}
