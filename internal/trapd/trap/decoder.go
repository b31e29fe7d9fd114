package trap

import (
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
	// lower security level than its user's, or lies outside the time window.
	ErrAuth = errors.New("SNMPv3 authentication failed")
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
}

// Decoder decodes datagrams received on the trap port into Traps, checking them
// against the allow-lists first. It is safe for concurrent use.
type Decoder struct {
	communities [][]byte
	users       map[string]gosnmp.SnmpV3MsgFlags // required security level per user
	pool        sync.Pool                        // *gosnmp.GoSNMP per goroutine
	table       *gosnmp.SnmpV3SecurityParametersTable

	mu      sync.Mutex
	engines map[string]engineClock // RFC 3414 3.2.7 b: latest boots/time per engine
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
	d := &Decoder{communities: o.Communities, users: map[string]gosnmp.SnmpV3MsgFlags{}, engines: map[string]engineClock{}}
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
// ErrUser, ErrAuth or ErrMalformed (ErrPanic when gosnmp panicked, which is recovered).
func (d *Decoder) Decode(b []byte, src netip.Addr, at time.Time) (Trap, error) {
	t, _, err := d.DecodePacket(b, src, at)
	return t, err
}

// DecodePacket is Decode that also returns gosnmp's packet, from which the Response to
// an InformRequest is built.
func (d *Decoder) DecodePacket(b []byte, src netip.Addr, at time.Time) (Trap, *gosnmp.SnmpPacket, error) {
	t, pkt, err := d.decode(b, src, at)
	if err != nil {
		return Trap{}, nil, err
	}
	return t, pkt, nil
}

func (d *Decoder) decode(b []byte, src netip.Addr, at time.Time) (Trap, *gosnmp.SnmpPacket, error) {
	h, err := PeekHeader(b)
	if err != nil {
		return Trap{}, nil, err
	}
	switch h.Version {
	case Version1, Version2c:
		if !d.allowed(h.Community) {
			return Trap{}, nil, fmt.Errorf("%w (%d octets)", ErrCommunity, len(h.Community))
		}
	case Version3:
		level, ok := d.users[h.User]
		if !ok {
			return Trap{}, nil, fmt.Errorf("%w %.32q", ErrUser, h.User)
		}
		got := gosnmp.SnmpV3MsgFlags(h.Flags) & gosnmp.AuthPriv
		if got != level || (level == gosnmp.AuthPriv && !h.Encrypted) {
			return Trap{}, nil, fmt.Errorf("%w: user %s sent security level %v, requires %v", ErrAuth, h.User, got, level)
		}
		if !d.timely(h, false) {
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
	if h.Version == Version3 {
		d.timely(h, true)
	}
	t, err := FromPacket(pkt, src, at)
	return t, pkt, err
}

// unmarshal runs gosnmp's decoder, turning a panic into ErrPanic: the listener's
// datagrams are anyone's, and one must never stop the daemon.
func (d *Decoder) unmarshal(b []byte, v3 bool) (pkt *gosnmp.SnmpPacket, err error) {
	g := d.pool.Get().(*gosnmp.GoSNMP)
	defer func() {
		if r := recover(); r != nil {
			pkt, err = nil, fmt.Errorf("%w: %v", ErrPanic, r)
			return // a GoSNMP that panicked is not put back
		}
		d.pool.Put(g)
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
