package guesttable

import (
	"context"
	"sync"
	"time"
)

// Cache serves a table rebuilt from Load at most once per TTL, like libvirt-snmp's table
// cache (up to 5 s): a read right after a change may show the old values.
type Cache struct {
	// Load lists the guests. A failing Load still yields a table of the guests it
	// returned (an empty table when libvirt does not answer, as with the real agent).
	Load func(context.Context) ([]Guest, error)
	// TTL is how long a table is served; 0 loads on every read.
	TTL time.Duration
	// Now is the clock; it defaults to time.Now.
	Now func() time.Time

	mu    sync.Mutex
	t     *Table
	at    time.Time
	valid bool
}

// Table returns the current table, loading the guests when the cached table is TTL old.
// The error is Load's, returned with the table built from what it did return.
func (c *Cache) Table(ctx context.Context) (*Table, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	at := now()
	if c.valid && at.Sub(c.at) < c.TTL {
		return c.t, nil
	}
	guests, err := c.Load(ctx)
	c.t, c.at, c.valid = New(guests), at, true
	return c.t, err
}
