package trap

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/atomicfile"
)

// ErrDiscovery: an SNMPv3 engine ID discovery probe (RFC 3414 section 4): a reportable
// noAuthNoPriv message without an authoritative engine ID, which an InformRequest's
// sender sends first. It is answered with Report, not handled as a trap.
var ErrDiscovery = errors.New("SNMPv3 engine ID discovery")

// Engine is trapd's own SNMPv3 engine. The receiver of an InformRequest is the
// authoritative engine (RFC 3414 section 3.2): the sender discovers its engine ID,
// boots and time, localises its keys to that ID and sends the inform within this
// engine's time window; the Response is sent under the same ID.
type Engine struct {
	// ID is the snmpEngineID (RFC 3411: 5-32 octets).
	ID []byte
	// Boots counts the engine's starts (snmpEngineBoots); it must grow at every start,
	// so that a recorded inform cannot be replayed after a restart.
	Boots int64
	// Start is when the engine started: snmpEngineTime counts seconds from it.
	Start time.Time

	seed sync.Once
	salt atomic.Uint64 // the last privacy salt used (privacySalt)
}

// EngineID builds an snmpEngineID of the text format (RFC 3411 SnmpEngineID, format
// 4) under net-snmp's enterprise number, from name (cut to the 27 octets that fit).
func EngineID(name string) []byte {
	id := []byte{0x80, 0x00, 0x1f, 0x88, 0x04}
	if len(name) > 27 {
		name = name[:27]
	}
	return append(id, name...)
}

// DefaultEngine is the engine of this host (ID from its host name), with boots read
// from and advanced in file.
func DefaultEngine(file string, start time.Time) (*Engine, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("SNMPv3 engine ID: %w", err)
	}
	boots, err := NextBoots(file)
	if err != nil {
		return nil, err
	}
	return &Engine{ID: EngineID("vcr-trapd@" + host), Boots: boots, Start: start}, nil
}

func (e *Engine) time(at time.Time) int64 { return int64(at.Sub(e.Start) / time.Second) }

// timely applies RFC 3414 section 3.2.7 a for messages to this authoritative engine:
// the boots must be this engine's and the time within 150 s of its own.
func (e *Engine) timely(h Header, at time.Time) bool {
	now := e.time(at)
	return h.EngineBoots == e.Boots && h.EngineTime >= now-timeWindow && h.EngineTime <= now+timeWindow
}

// security is the USM parameters of a message from this engine at at: sp's user and
// keys (localised to this engine's ID, as the sender's were) under this engine's ID,
// boots and time, and for a user with privacy a salt of its own: never sp's, the
// inform's, whose keystream an AES Response in the same second would otherwise reuse.
func (e *Engine) security(sp *gosnmp.UsmSecurityParameters, at time.Time) *gosnmp.UsmSecurityParameters {
	n := sp.Copy().(*gosnmp.UsmSecurityParameters)
	n.AuthoritativeEngineID, n.AuthoritativeEngineBoots, n.AuthoritativeEngineTime = string(e.ID), uint32(e.Boots), uint32(e.time(at))
	n.PrivacyParameters = nil
	if n.PrivacyProtocol > gosnmp.NoPriv {
		n.PrivacyParameters = e.privacySalt(n.PrivacyProtocol)
	}
	n.Logger = gosnmp.NewLogger(nil)
	return n
}

// privacySalt is the msgPrivacyParameters of the next message this engine encrypts
// under proto: a 64-bit counter that starts at a random value and counts every
// message, so that no salt repeats within a boots, 8 octets of it for AES (RFC 3826
// 3.1.2.1), for DES this engine's boots and its low 32 bits (RFC 3414 8.1.1.1). It is
// gosnmp's scheme (usmAllocateNewSalt), done here because gosnmp seeds its counter only
// inside GoSNMP's connection set-up.
func (e *Engine) privacySalt(proto gosnmp.SnmpV3PrivProtocol) []byte {
	e.seed.Do(func() {
		var b [8]byte
		rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
		e.salt.Store(binary.BigEndian.Uint64(b[:]))
	})
	salt := binary.BigEndian.AppendUint64(nil, e.salt.Add(1))
	if proto == gosnmp.DES {
		binary.BigEndian.PutUint32(salt, uint32(e.Boots))
	}
	return salt
}

// The usmStats counters (RFC 3414 section 5) that Reports carry.
const (
	usmStatsNotInTimeWindows = ".1.3.6.1.6.3.15.1.1.2.0"
	usmStatsUnknownEngineIDs = ".1.3.6.1.6.3.15.1.1.4.0"
)

// DiscoveryReport answers the discovery probe b with a Report that carries this
// engine's ID, boots and time (unauthenticated, as RFC 3414 section 4 has it).
func (d *Decoder) DiscoveryReport(b []byte, at time.Time) ([]byte, error) {
	if d.engine == nil {
		return nil, errors.New("no SNMPv3 engine: informs are not answered")
	}
	g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, SecurityParameters: &gosnmp.UsmSecurityParameters{}}
	req, err := safeUnmarshal(g, b, false)
	if err != nil {
		return nil, err
	}
	sp, _ := req.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	if sp == nil {
		return nil, fmt.Errorf("%w: discovery without USM parameters", ErrMalformed)
	}
	sec := d.engine.security(&gosnmp.UsmSecurityParameters{UserName: sp.UserName}, at)
	return d.report(req, sec, gosnmp.NoAuthNoPriv, usmStatsUnknownEngineIDs, &d.discoveries)
}

// TimeWindowReport answers an InformRequest that DecodePacket refused with
// ErrNotInTimeWindow (pkt, already authenticated) with a Report carrying
// usmStatsNotInTimeWindows and this engine's boots and time, authenticated with the
// inform's user at authNoPriv (RFC 3414 section 3.2 step 7a): the sender takes boots
// and time from it and sends the inform again, now within the window.
func (d *Decoder) TimeWindowReport(pkt *gosnmp.SnmpPacket, at time.Time) ([]byte, error) {
	sp, err := d.ourSecurity(pkt)
	if err != nil {
		return nil, err
	}
	return d.report(pkt, d.engine.security(sp, at), gosnmp.AuthNoPriv, usmStatsNotInTimeWindows, &d.notInTimeWindows)
}

// report builds this engine's Report-PDU to req (RFC 3412 section 7.1.3: req's msgID
// and request-id, this engine's context) under sec at the security level flags, with
// the usmStats counter oid, which it increments first.
func (d *Decoder) report(req *gosnmp.SnmpPacket, sec *gosnmp.UsmSecurityParameters, flags gosnmp.SnmpV3MsgFlags, oid string, counter *uint32) ([]byte, error) {
	d.mu.Lock()
	*counter++
	n := *counter
	d.mu.Unlock()
	rep := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: flags, SecurityModel: gosnmp.UserSecurityModel,
		SecurityParameters: sec, MsgID: req.MsgID, MsgMaxSize: 65507,
		ContextEngineID: string(d.engine.ID), PDUType: gosnmp.Report, RequestID: req.RequestID,
		Variables: []gosnmp.SnmpPDU{{Name: oid, Type: gosnmp.Counter32, Value: n}}}
	return rep.MarshalMsg()
}

// ourSecurity returns the USM parameters of the SNMPv3 message pkt, which must have
// been sent to this engine's ID: only then does trapd answer it.
func (d *Decoder) ourSecurity(pkt *gosnmp.SnmpPacket) (*gosnmp.UsmSecurityParameters, error) {
	sp, _ := pkt.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	if d.engine == nil || sp == nil || sp.AuthoritativeEngineID != string(d.engine.ID) {
		return nil, errors.New("an SNMPv3 inform not sent to this engine's ID is not answered")
	}
	return sp, nil
}

// Response is the Response-PDU to the InformRequest pkt (RFC 3416 section 4.2.7: same
// request-id and varbinds, no error); an SNMPv3 one goes under this engine's ID, boots
// and time, authenticated (and encrypted, under a fresh salt) as the inform was.
func (d *Decoder) Response(pkt *gosnmp.SnmpPacket, at time.Time) ([]byte, error) {
	resp := *pkt
	resp.PDUType, resp.Error, resp.ErrorIndex = gosnmp.GetResponse, gosnmp.NoError, 0
	if pkt.Version == gosnmp.Version3 {
		sp, err := d.ourSecurity(pkt)
		if err != nil {
			return nil, err
		}
		resp.SecurityParameters = d.engine.security(sp, at)
		resp.MsgFlags = pkt.MsgFlags &^ gosnmp.Reportable
	}
	return resp.MarshalMsg()
}

// NextBoots reads snmpEngineBoots from file (none yet: 0), and writes and returns the
// next value, so that every start of the engine counts (RFC 3414 section 2.2.2).
func NextBoots(file string) (int64, error) {
	var boots int64
	b, err := os.ReadFile(file)
	switch {
	case err == nil:
		if boots, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil || boots < 0 {
			return 0, fmt.Errorf("SNMPv3 engine boots in %s: not a count: %q", file, b)
		}
	case !errors.Is(err, os.ErrNotExist):
		return 0, fmt.Errorf("SNMPv3 engine boots: %w", err)
	}
	// 2147483647 is the latched maximum: no message is timely then (RFC 3414 2.2.2).
	boots = min(boots+1, 2147483647)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return 0, fmt.Errorf("SNMPv3 engine boots: %w", err)
	}
	if err := atomicfile.Write(file, []byte(strconv.FormatInt(boots, 10)+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("SNMPv3 engine boots: %w", err)
	}
	return boots, nil
}
