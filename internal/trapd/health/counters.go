// Package health holds vcr-trapd's health counters, which its intake (listen, follow)
// and its delivery share, and which it reports to the "vcrcovery trapd" template's items.
package health

import "sync/atomic"

// Counters are trapd's health counters, counted since it started. The first eight are
// the items of the "vcrcovery trapd" template (zabbix.KeyTrapd(name)); the others
// break them down in the log. Safe for concurrent use.
type Counters struct {
	// Received counts datagrams and snmptrapd log records of any kind.
	Received atomic.Uint64
	// Decoded counts guest traps (libvirtGuestNotif) turned into state values.
	Decoded atomic.Uint64
	// Rejected counts notifications refused: wrong community, unknown SNMPv3 user or
	// failed authentication, a source that is no inventory hypervisor, or not a
	// libvirtGuestNotif (the template's definition).
	Rejected atomic.Uint64
	// Malformed counts datagrams and log records that could not be decoded.
	Malformed atomic.Uint64
	// Sent counts values the Zabbix server accepted on the live path.
	Sent atomic.Uint64
	// Spooled counts values written to the disk spool.
	Spooled atomic.Uint64
	// Replayed counts spooled values the server accepted later.
	Replayed atomic.Uint64
	// Dropped counts what was lost: values refused by the server for longer than the
	// retry window, spool segments dropped when the spool was full, and datagrams
	// dropped because the intake queue was full.
	Dropped atomic.Uint64

	// Breakdown, logged only.
	RejectedCommunity atomic.Uint64
	RejectedUser      atomic.Uint64
	RejectedAuth      atomic.Uint64
	RejectedSource    atomic.Uint64
	NotGuest          atomic.Uint64
	Oversize          atomic.Uint64
	Panics            atomic.Uint64
	QueueFull         atomic.Uint64
	Forwarded         atomic.Uint64
	Informs           atomic.Uint64
	Retried           atomic.Uint64
	FastPath          atomic.Uint64
	FastPathFailed    atomic.Uint64
	// NotInTimeWindow counts SNMPv3 informs outside trapd's engine's time window,
	// answered with a Report (the sender then sends them again): neither refused nor
	// handed on.
	NotInTimeWindow atomic.Uint64
}

// Count is one counter's name and value.
type Count struct {
	Name  string
	Value uint64
}

// Health returns the eight counters of the trapd template, in its order.
func (c *Counters) Health() []Count {
	return []Count{
		{"received", c.Received.Load()},
		{"decoded", c.Decoded.Load()},
		{"rejected", c.Rejected.Load()},
		{"malformed", c.Malformed.Load()},
		{"sent", c.Sent.Load()},
		{"spooled", c.Spooled.Load()},
		{"replayed", c.Replayed.Load()},
		{"dropped", c.Dropped.Load()},
	}
}

// All returns every counter: Health, then the breakdown.
func (c *Counters) All() []Count {
	return append(c.Health(),
		Count{"rejected_community", c.RejectedCommunity.Load()},
		Count{"rejected_user", c.RejectedUser.Load()},
		Count{"rejected_auth", c.RejectedAuth.Load()},
		Count{"rejected_source", c.RejectedSource.Load()},
		Count{"not_guest", c.NotGuest.Load()},
		Count{"oversize", c.Oversize.Load()},
		Count{"panics", c.Panics.Load()},
		Count{"queue_full", c.QueueFull.Load()},
		Count{"forwarded", c.Forwarded.Load()},
		Count{"informs", c.Informs.Load()},
		Count{"not_in_time_window", c.NotInTimeWindow.Load()},
		Count{"retried", c.Retried.Load()},
		Count{"fast_path", c.FastPath.Load()},
		Count{"fast_path_failed", c.FastPathFailed.Load()},
	)
}
