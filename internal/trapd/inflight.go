package trapd

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/spool"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// The ledger's part of delivery. The trapper protocol has no transactions, so when a
// batch's fate is unknown (the reply was lost, or trapd was killed between the
// server's answer and recording it), only Zabbix's history can tell whether it got
// in. Before a batch from the follower or the spool leaves, the deliverer records it
// in the ledger (with, for the follower, its position once delivered); once the
// outcome is durable, the follower notes the record delivered (Settle, saved with its
// position soon after) or the spool moves its cursor. At the next start, an open
// record is completed: what history (or the spool's last batch) holds is not sent
// again, the rest is spooled, and the follower resumes after the batch instead of
// reading it again.

// intake is what the deliverer needs of the follower.
type intake interface {
	// After returns the follower's position just past record seq.
	After(seq uint64) (json.RawMessage, error)
	// Settle records n as the last ledger record delivered (saved soon after).
	Settle(n uint64)
}

// defaultSyncLag is how long after a batch left its values may take to show in
// history: the history syncer writes about every second, later under load.
const defaultSyncLag = 5 * time.Second

// intend records a batch of the follower's records before it leaves and returns its
// ledger number (0: not recorded, no ledger or not from the follower).
func (d *deliverer) intend(items []item, values []zabbix.Value) uint64 {
	last := items[len(items)-1]
	if d.ledger == nil || d.intake == nil || !last.logged {
		return 0
	}
	after, err := d.intake.After(last.seq)
	if err != nil {
		d.limiter.Log(slog.LevelError, "ledger", "cannot take the follow position for the ledger: a crash now may send this batch twice", "err", err)
		return 0
	}
	return d.record(spool.FromIntake, values, after)
}

// record writes a ledger record; a failure is logged (delivery goes on, without the
// guarantee) and returns 0.
func (d *deliverer) record(source string, values []zabbix.Value, after json.RawMessage) uint64 {
	if d.ledger == nil {
		return 0
	}
	n, err := d.ledger.Write(source, values, after)
	if err != nil {
		d.limiter.Log(slog.LevelError, "ledger", "cannot record the batch before sending it: a crash now may send it twice", "values", len(values), "err", err)
		return 0
	}
	return n
}

// settle tells the follower that ledger record n is delivered.
func (d *deliverer) settle(n uint64) {
	if n > 0 && d.intake != nil {
		d.intake.Settle(n)
	}
}

// undelivered returns those of values that Zabbix's history does not hold. It waits
// (until syncLag after sent) for the history syncer before it concludes that a value
// is missing. Without the API, or when the API does not answer, every value counts
// as missing: sending a state value twice is harmless, losing one is not.
func (d *deliverer) undelivered(ctx context.Context, values []zabbix.Value, sent time.Time, why string) []zabbix.Value {
	if d.stored == nil {
		d.limiter.Log(slog.LevelWarn, "uncertain", why+"; without zabbix.api_url trapd cannot tell what Zabbix took, so it sends the batch again (values may arrive twice)",
			"values", len(values))
		return values
	}
	deadline := sent.Add(d.syncLag)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		found, err := d.stored(cctx, values)
		cancel()
		if err == nil && !slices.Contains(found, false) {
			d.log.Info(why+"; Zabbix's history holds the whole batch: not sent again", "values", len(values))
			return nil
		}
		if !d.now().Before(deadline) || ctx.Err() != nil {
			if err != nil {
				d.limiter.Log(slog.LevelWarn, "uncertain", why+"; the Zabbix API cannot tell what Zabbix took, so the batch is sent again (values may arrive twice)",
					"values", len(values), "err", err)
				return values
			}
			var missing []zabbix.Value
			for i, v := range values {
				if !found[i] {
					missing = append(missing, v)
				}
			}
			d.log.Info(why+"; sending again only what Zabbix's history lacks", "values", len(values), "missing", len(missing))
			return missing
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// settleHead completes a replay whose outcome is unknown: the spool's head is
// acknowledged when history holds it all; what history lacks goes to the end of the
// spool (the only reordering, and only when a batch got in partly). It reports
// whether the head was acknowledged.
func (d *deliverer) settleHead(ctx context.Context, values []zabbix.Value, sent time.Time, why string) bool {
	missing := d.undelivered(ctx, values, sent, why)
	if len(missing) == len(values) {
		return false // replayed again later
	}
	if len(missing) > 0 {
		d.toSpool(missing)
	}
	if err := d.spool.Ack(); err != nil {
		d.limiter.Log(slog.LevelError, "spool_ack", "cannot record replay progress in the spool", "err", err)
	}
	return true
}

// recoverFlight completes the ledger record f that the last run left open. settled is
// the last record the follower saved as delivered (0 in listen mode). It returns the
// follower position to resume from (nil: the saved one).
func (d *deliverer) recoverFlight(ctx context.Context, f *spool.Flight, settled uint64) json.RawMessage {
	d.ledger.SetLast(settled)
	why := "trapd stopped before it learnt whether Zabbix took the last batch"
	switch {
	case f == nil:
		return nil
	case f.Source == spool.FromIntake:
		if f.N <= settled {
			return nil // delivered and saved
		}
		values := without(f.Values, d.restore) // held for retry, restored by run
		if last, err := d.spool.Last(); err != nil {
			d.limiter.Log(slog.LevelError, "spool_read", "cannot read the spool's last batch", "err", err)
		} else {
			values = without(values, last) // spooled before the crash
		}
		if len(values) > 0 {
			values = d.undelivered(ctx, values, f.At, why)
		}
		if len(values) > 0 {
			d.toSpool(values)
		}
		d.log.Info("completed the batch left in flight by the last run", "values", len(f.Values), "spooled_again", len(values))
		return f.After
	case f.Source == spool.FromSpool:
		head, err := d.spool.Peek()
		if err != nil || !sameBatch(head, f.Values) {
			return nil // acknowledged before the crash
		}
		if d.settleHead(ctx, head, f.At, why) {
			d.log.Info("completed the replay left in flight by the last run", "values", len(head))
		}
	}
	return nil
}

// sameBatch reports whether a and b hold the same values in the same order.
func sameBatch(a, b []zabbix.Value) bool {
	return slices.EqualFunc(a, b, func(x, y zabbix.Value) bool { return same(x) == same(y) })
}

// sameValue is a value as a comparable key: its clock as Unix nanoseconds, since
// time.Time's == also compares the monotonic reading and the location.
type sameValue struct {
	host, key, value string
	clock            int64
}

func same(v zabbix.Value) sameValue {
	k := sameValue{host: v.Host, key: v.Key, value: v.Value}
	if !v.Clock.IsZero() {
		k.clock = v.Clock.UnixNano()
	}
	return k
}

// without returns values minus those in drop.
func without(values, drop []zabbix.Value) []zabbix.Value {
	in := map[sameValue]bool{}
	for _, v := range drop {
		in[same(v)] = true
	}
	var out []zabbix.Value
	for _, v := range values {
		if !in[same(v)] {
			out = append(out, v)
		}
	}
	return out
}

// saveHeld writes the values held for retry to heldStore (a failure is logged: they
// are then only in memory until shutdown spools them).
func (d *deliverer) saveHeld() {
	if d.heldStore == nil {
		return
	}
	values := make([]zabbix.Value, len(d.held))
	for i, h := range d.held {
		values[i] = h.v
	}
	if _, err := d.heldStore.Write(spool.Held, values, nil); err != nil {
		d.limiter.Log(slog.LevelError, "held", "cannot save the values held for retry: a crash would lose them", "values", len(values), "err", err)
	}
}

// holdRestored holds again the values a killed run held for retry, with their
// deadlines (clock + rejectRetry), and retries them at once.
func (d *deliverer) holdRestored() {
	if len(d.restore) == 0 {
		return
	}
	for _, v := range d.restore {
		d.held = append(d.held, held{v: v, deadline: v.Clock.Add(d.rejectRetry)})
		d.heldPairs[pair{v.Host, v.Key}]++
	}
	d.log.Info("values held for retry by the last run are retried", "values", len(d.restore))
	d.restore = nil
	d.nextRetry = d.now()
}

// loadHeld reads what the last run held for retry, minus what its shutdown spooled
// (a kill between spooling them and clearing the store).
func (d *deliverer) loadHeld(f *spool.Flight) {
	if f == nil || len(f.Values) == 0 {
		return
	}
	values := f.Values
	if last, err := d.spool.Last(); err == nil {
		values = without(values, last)
	}
	d.restore = values
}
