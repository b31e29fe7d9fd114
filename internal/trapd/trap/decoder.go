package trap

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"
)

// Errors of Decoder.Decode for refused messages; each also names what was refused.
var (
	// ErrCommunity: an SNMPv1/v2c message whose community is not on the allow-list
	// (gosnmp itself accepts any community).
	ErrCommunity = errors.New("community not allowed")
	// ErrUser: an SNMPv3 message from a user that is not configured.
	ErrUser = errors.New("unknown SNMPv3 user")
	// ErrAuth: an SNMPv3 message that failed authentication or decryption, came at a
	// lower security level than its user's, or lies outside the time window (but see
	// ErrNotInTimeWindow).
	ErrAuth = errors.New("SNMPv3 authentication failed")
	// ErrNotInTimeWindow: an authenticated SNMPv3 InformRequest to this engine whose
	// engine boots or time lie outside this engine's time window (RFC 3414 section 3.2
	// step 7a): a sender whose clock of this engine is stale (trapd restarted since it
	// last synchronised, say). It is not handled as a notification but answered with
	// TimeWindowReport, after which the sender sends it again.
	ErrNotInTimeWindow = errors.New("SNMPv3 inform outside this engine's time window")
	// ErrPanic: decoding panicked (a gosnmp bug reached by a hostile datagram). It wraps
	// ErrMalformed.
	ErrPanic = fmt.Errorf("%w: decoder panic", ErrMalformed)
)

// DecoderOptions configure a Decoder.
type DecoderOptions struct {
	// Communities is the SNMPv1/v2c allow-list. Empty refuses every v1/v2c message.
	Communities [][]byte
	// Users are the SNMPv3 users whose notifications are accepted (USM, RFC 3414),
	// with their passphrases. A user with a privacy protocol must send authPriv; one
	// without, authNoPriv. noAuthNoPriv is never accepted.
	Users []*gosnmp.UsmSecurityParameters
	// Engine is this receiver's own SNMPv3 engine, which SNMPv3 informs are sent to;
	// nil: discovery probes are dropped and v3 informs are not answered.
	Engine *Engine
}

// Decoder decodes datagrams received on the trap port into Traps, checking them
// against the allow-lists first. It is safe for concurrent use.
type Decoder struct {
	communities [][]byte
	users       map[string]gosnmp.SnmpV3MsgFlags // required security level per user
	pool        sync.Pool                        // *gosnmp.GoSNMP per goroutine
	table       *gosnmp.SnmpV3SecurityParametersTable

	engine *Engine

	mu          sync.Mutex
	engines     map[string]engineClock // RFC 3414 3.2.7 b: latest boots/time per engine
	discoveries uint32                 // usmStatsUnknownEngineIDs
	// usmStatsNotInTimeWindows, counted per Report built: trapd has no agent that
	// would serve the counter, only its Reports carry it.
	notInTimeWindows uint32
}

type engineClock struct{ boots, time int64 }

// timeWindow is RFC 3414's 150-second window for authenticated messages.
const timeWindow = 150

// maxEngines bounds the timeliness table; past it the table starts over, which only
// weakens replay protection for a moment.
const maxEngines = 10000

// NewDecoder prepares the SNMPv3 keys of every user (localised per sender engine on
// first use, cached by gosnmp).
func NewDecoder(o DecoderOptions) (*Decoder, error) {
	d := &Decoder{communities: o.Communities, users: map[string]gosnmp.SnmpV3MsgFlags{}, engines: map[string]engineClock{}, engine: o.Engine}
	if e := o.Engine; e != nil && (len(e.ID) < 5 || len(e.ID) > 32) {
		return nil, fmt.Errorf("SNMPv3 engine ID: %d octets, must be 5-32", len(e.ID))
	}
	if len(o.Users) > 0 {
		d.table = gosnmp.NewSnmpV3SecurityParametersTable(gosnmp.NewLogger(nil))
		for _, u := range o.Users {
			if u.AuthenticationProtocol <= gosnmp.NoAuth {
				return nil, fmt.Errorf("snmp user %s: an authentication protocol is required", u.UserName)
			}
			level := gosnmp.AuthNoPriv
			if u.PrivacyProtocol > gosnmp.NoPriv {
				level = gosnmp.AuthPriv
			}
			if _, dup := d.users[u.UserName]; dup {
				return nil, fmt.Errorf("snmp user %s: configured twice", u.UserName)
			}
			d.users[u.UserName] = level
			if err := d.table.Add(u.UserName, u.Copy()); err != nil {
				return nil, fmt.Errorf("snmp user %s: %w", u.UserName, err)
			}
		}
	}
	d.pool.New = func() any {
		g := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
		if d.table != nil {
			g.Version, g.SecurityModel = gosnmp.Version3, gosnmp.UserSecurityModel
			g.SetTrapSecurityParametersTable(d.table)
		}
		return g
	}
	return d, nil
}

// Decode decodes one datagram from src, received at at. The error wraps ErrCommunity,
// ErrUser, ErrAuth or ErrMalformed (ErrPanic when gosnmp panicked, which is recovered),
// or is ErrDiscovery or wraps ErrNotInTimeWindow for the SNMPv3 messages answered with
// a Report.
func (d *Decoder) Decode(b []byte, src netip.Addr, at time.Time) (Trap, error) {
	t, _, err := d.DecodePacket(b, src, at)
	return t, err
}

// DecodePacket is Decode that also returns gosnmp's packet, from which the Response to
// an InformRequest is built, and with ErrNotInTimeWindow the Report (TimeWindowReport).
func (d *Decoder) DecodePacket(b []byte, src netip.Addr, at time.Time) (Trap, *gosnmp.SnmpPacket, error) {
	t, pkt, err := d.decode(b, src, at)
	if err != nil {
		if !errors.Is(err, ErrNotInTimeWindow) {
			pkt = nil
		}
		return Trap{}, pkt, err
	}
	return t, pkt, nil
}

func (d *Decoder) decode(b []byte, src netip.Addr, at time.Time) (Trap, *gosnmp.SnmpPacket, error) {
	h, err := PeekHeader(b)
	if err != nil {
		return Trap{}, nil, err
	}
	late := false // sent to this engine outside its time window
	switch h.Version {
	case Version1, Version2c:
		if !d.allowed(h.Community) {
			return Trap{}, nil, fmt.Errorf("%w (%d octets)", ErrCommunity, len(h.Community))
		}
	case Version3:
		if len(h.EngineID) == 0 && h.Flags&byte(gosnmp.AuthPriv) == 0 && h.Flags&byte(gosnmp.Reportable) != 0 {
			if d.engine == nil {
				return Trap{}, nil, fmt.Errorf("%w: no SNMPv3 users, so no engine to report", ErrUser)
			}
			return Trap{}, nil, ErrDiscovery
		}
		level, ok := d.users[h.User]
		if !ok {
			return Trap{}, nil, fmt.Errorf("%w %.32q", ErrUser, h.User)
		}
		got := gosnmp.SnmpV3MsgFlags(h.Flags) & gosnmp.AuthPriv
		if got != level || (level == gosnmp.AuthPriv && !h.Encrypted) {
			return Trap{}, nil, fmt.Errorf("%w: user %s sent security level %v, requires %v", ErrAuth, h.User, got, level)
		}
		if d.ours(h) {
			// RFC 3414 section 3.2 checks the time window (step 7) only after the
			// authentication (step 6): an out-of-window inform is authenticated first,
			// below, and then answered with a Report.
			late = !d.engine.timely(h, at)
		} else if !d.timely(h, false) {
			return Trap{}, nil, fmt.Errorf("%w: user %s: engine boots %d time %d outside the time window", ErrAuth, h.User, h.EngineBoots, h.EngineTime)
		}
	}
	pkt, err := d.unmarshal(b, h.Version == Version3)
	if err != nil {
		if h.Version == Version3 && !errors.Is(err, ErrPanic) {
			return Trap{}, nil, fmt.Errorf("%w: user %s: %v", ErrAuth, h.User, err)
		}
		return Trap{}, nil, err
	}
	if late {
		err := fmt.Errorf("user %s: engine boots %d time %d outside this engine's time window (boots %d time %d)",
			h.User, h.EngineBoots, h.EngineTime, d.engine.Boots, d.engine.time(at))
		// Only a confirmed-class PDU sent reportable gets the Report (RFC 3412 section
		// 7.1.3.a); an unconfirmed one (a trap sent under this engine's ID) has nobody
		// waiting for it and is refused.
		if pkt.PDUType == gosnmp.InformRequest && h.Flags&byte(gosnmp.Reportable) != 0 {
			return Trap{}, pkt, fmt.Errorf("%w: %v", ErrNotInTimeWindow, err)
		}
		return Trap{}, nil, fmt.Errorf("%w: %v", ErrAuth, err)
	}
	if h.Version == Version3 && !d.ours(h) {
		d.timely(h, true)
	}
	t, err := FromPacket(pkt, src, at)
	return t, pkt, err
}

// ours reports whether an SNMPv3 message is addressed to this receiver's own engine
// (an inform), not sent under the sender's (a trap).
func (d *Decoder) ours(h Header) bool {
	return d.engine != nil && bytes.Equal(h.EngineID, d.engine.ID)
}

// unmarshal runs gosnmp's decoder from the pool.
func (d *Decoder) unmarshal(b []byte, v3 bool) (*gosnmp.SnmpPacket, error) {
	g := d.pool.Get().(*gosnmp.GoSNMP)
	pkt, err := safeUnmarshal(g, b, v3)
	if !errors.Is(err, ErrPanic) {
		d.pool.Put(g) // a GoSNMP that panicked is not put back
	}
	return pkt, err
}

// safeUnmarshal runs g's decoder on a copy of b, turning a panic into ErrPanic: the
// listener's datagrams are anyone's, and one must never stop the daemon.
func safeUnmarshal(g *gosnmp.GoSNMP, b []byte, v3 bool) (pkt *gosnmp.SnmpPacket, err error) {
	defer func() {
		if r := recover(); r != nil {
			pkt, err = nil, fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	// UnmarshalTrap may modify the buffer (SNMPv3 authentication blanks the MAC).
	cp := append([]byte(nil), b...)
	pkt, err = g.UnmarshalTrap(cp, v3)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return pkt, nil
}

// allowed compares the community with every allowed one in constant time.
func (d *Decoder) allowed(c []byte) bool {
	ok := 0
	for _, a := range d.communities {
		ok |= subtle.ConstantTimeCompare(a, c)
	}
	return ok == 1
}

// timely applies RFC 3414 section 3.2.7 b for a non-authoritative receiver (the trap's
// sender is authoritative): a message is outside the time window when its engine boots
// is at its maximum or below the latest seen, or when its engine time is more than 150
// s behind the latest seen for the same boots. With update set (after authentication
// succeeded) the latest values are advanced. A replayed old trap is refused this way.
func (d *Decoder) timely(h Header, update bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := string(h.EngineID)
	last, seen := d.engines[key]
	if h.EngineBoots >= 2147483647 {
		return false
	}
	if seen && (h.EngineBoots < last.boots || (h.EngineBoots == last.boots && h.EngineTime < last.time-timeWindow)) {
		return false
	}
	if update && (!seen || h.EngineBoots > last.boots || (h.EngineBoots == last.boots && h.EngineTime > last.time)) {
		if len(d.engines) >= maxEngines {
			clear(d.engines)
		}
		d.engines[key] = engineClock{h.EngineBoots, h.EngineTime}
	}
	return true
}
