package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/atomicfile"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Sources of an in-flight batch.
const (
	// FromIntake: values fresh from the intake (trapd's follow mode), with the intake's
	// position once they are delivered.
	FromIntake = "intake"
	// FromSpool: the spool's oldest batch, being replayed.
	FromSpool = "spool"
	// Held: values the server refused for now, kept for retry (a ledger of its own).
	Held = "held"
)

// Ledger is the durable record of the one batch of values that is leaving for the
// Zabbix trapper without an answer yet. The trapper protocol has no transactions: when
// the sender dies after the server took a batch but before it recorded that (or the
// reply is lost), only a record written before the batch left tells, at the next
// start, what to look for in Zabbix's history (zabbix.API.Stored), so that the batch
// is completed rather than sent again. One record at a time, replaced atomically;
// whether a record is still open is for its owner to tell (by its number, or by the
// spool's head): closing it would cost another fsync per batch.
type Ledger struct {
	path string
	mu   sync.Mutex
	n    uint64
}

// Flight is one ledger record.
type Flight struct {
	// N numbers the records of a ledger, increasing across restarts.
	N uint64
	// At is when the record was written, just before the batch left.
	At     time.Time
	Source string
	Values []zabbix.Value
	// After is the intake's position once the values are delivered (FromIntake).
	After json.RawMessage
}

type wireFlight struct {
	N      uint64          `json:"n"`
	At     int64           `json:"at"`
	Source string          `json:"source"`
	Values []wireValue     `json:"values"`
	After  json.RawMessage `json:"after,omitempty"`
}

// OpenLedger opens the ledger in file and returns the record the last run left, if any.
func OpenLedger(file string) (*Ledger, *Flight, error) {
	l := &Ledger{path: file}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read in-flight ledger: %w", err)
	}
	var w wireFlight
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, nil, fmt.Errorf("in-flight ledger %s: %w", file, err)
	}
	l.n = w.N
	f := &Flight{N: w.N, At: time.Unix(0, w.At), Source: w.Source, Values: decode(w.Values), After: w.After}
	return l, f, nil
}

// Write records, durably, that values from source are about to leave; after is the
// intake's position once they are delivered. It returns the record's number.
func (l *Ledger) Write(source string, values []zabbix.Value, after json.RawMessage) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := wireFlight{N: l.n + 1, At: time.Now().UnixNano(), Source: source, Values: encode(values), After: after}
	b, err := json.Marshal(w)
	if err != nil {
		return 0, fmt.Errorf("encode in-flight batch: %w", err)
	}
	if err := atomicfile.Write(l.path, b, 0o600); err != nil {
		return 0, fmt.Errorf("record in-flight batch: %w", err)
	}
	l.n = w.N
	return w.N, nil
}

// Last returns the number of the last record written (0: none ever).
func (l *Ledger) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// SetLast makes the next record's number follow n, for an owner that settled records
// of a ledger file lost since.
func (l *Ledger) SetLast(n uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n = max(l.n, n)
}

func encode(values []zabbix.Value) []wireValue {
	ws := make([]wireValue, len(values))
	for i, v := range values {
		ws[i] = wireValue{Host: v.Host, Key: v.Key, Value: v.Value}
		if !v.Clock.IsZero() {
			ws[i].Clock = v.Clock.UnixNano()
		}
	}
	return ws
}

func decode(ws []wireValue) []zabbix.Value {
	out := make([]zabbix.Value, len(ws))
	for i, w := range ws {
		out[i] = zabbix.Value{Host: w.Host, Key: w.Key, Value: w.Value}
		if w.Clock != 0 {
			out[i].Clock = time.Unix(0, w.Clock)
		}
	}
	return out
}
