// Package hypervisor talks to a hypervisor's libvirt-snmp agent (LIBVIRT-MIB,
// shared/mibs/LIBVIRT-MIB.txt) over SNMP v2c or v3.
package hypervisor

import (
	"context"
	"fmt"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/secret"
)

// Agent is a connection to one hypervisor's agent. It is not safe for concurrent use
// (gosnmp's client is not).
type Agent struct {
	Name string
	g    *gosnmp.GoSNMP
}

var authProtocols = map[config.AuthProtocol]gosnmp.SnmpV3AuthProtocol{
	config.AuthMD5: gosnmp.MD5, config.AuthSHA: gosnmp.SHA, config.AuthSHA224: gosnmp.SHA224,
	config.AuthSHA256: gosnmp.SHA256, config.AuthSHA384: gosnmp.SHA384, config.AuthSHA512: gosnmp.SHA512,
}

var privProtocols = map[config.PrivProtocol]gosnmp.SnmpV3PrivProtocol{
	config.PrivDES: gosnmp.DES, config.PrivAES: gosnmp.AES, config.PrivAES192: gosnmp.AES192,
	config.PrivAES256: gosnmp.AES256, config.PrivAES192C: gosnmp.AES192C, config.PrivAES256C: gosnmp.AES256C,
}

// Dial opens (UDP: no packet is sent yet) the agent of inventory hypervisor h. ctx bounds
// every request made later through the Agent.
func Dial(ctx context.Context, h *config.Hypervisor) (*Agent, error) {
	g := &gosnmp.GoSNMP{
		Context:            ctx,
		Target:             h.Address.Host(),
		Port:               h.Address.Port(),
		Transport:          "udp",
		Timeout:            h.Timeout,
		Retries:            h.Retries,
		MaxOids:            gosnmp.MaxOids,
		MaxRepetitions:     50,
		ExponentialTimeout: false,
	}
	switch h.Version {
	case config.SNMPv2c:
		c, err := secret.ReadFile(h.CommunityFile)
		if err != nil {
			return nil, fmt.Errorf("hypervisor %s: community: %w", h.Name, err)
		}
		g.Version, g.Community = gosnmp.Version2c, c.Reveal()
	case config.SNMPv3:
		if h.User == nil {
			return nil, fmt.Errorf("hypervisor %s: version 3 without an snmp.users entry", h.Name)
		}
		usm, flags, err := USM(h.User)
		if err != nil {
			return nil, fmt.Errorf("hypervisor %s: %w", h.Name, err)
		}
		g.Version, g.SecurityModel, g.MsgFlags, g.SecurityParameters = gosnmp.Version3, gosnmp.UserSecurityModel, flags, usm
	default:
		return nil, fmt.Errorf("hypervisor %s: unsupported SNMP version %s", h.Name, h.Version)
	}
	if err := g.Connect(); err != nil {
		return nil, fmt.Errorf("hypervisor %s at %s: %w", h.Name, h.Address, err)
	}
	return &Agent{Name: h.Name, g: g}, nil
}

// USM builds the SNMPv3 security parameters of an inventory user, reading its
// passphrase files.
func USM(u *config.V3User) (*gosnmp.UsmSecurityParameters, gosnmp.SnmpV3MsgFlags, error) {
	auth, err := secret.ReadFile(u.AuthPassphraseFile)
	if err != nil {
		return nil, 0, fmt.Errorf("snmp user %s: auth passphrase: %w", u.Name, err)
	}
	p := &gosnmp.UsmSecurityParameters{
		UserName:                 u.Name,
		AuthenticationProtocol:   authProtocols[u.AuthProtocol],
		AuthenticationPassphrase: auth.Reveal(),
		PrivacyProtocol:          gosnmp.NoPriv,
	}
	flags := gosnmp.AuthNoPriv
	if u.PrivProtocol != config.PrivNone {
		priv, err := secret.ReadFile(u.PrivPassphraseFile)
		if err != nil {
			return nil, 0, fmt.Errorf("snmp user %s: priv passphrase: %w", u.Name, err)
		}
		p.PrivacyProtocol, p.PrivacyPassphrase = privProtocols[u.PrivProtocol], priv.Reveal()
		flags = gosnmp.AuthPriv
	}
	return p, flags, nil
}

// Close releases the socket.
func (a *Agent) Close() error { return a.g.Conn.Close() }

// GuestState reads libvirtGuestState of one guest. The real agent caches its table for
// up to 5 s, so a state read right after a lifecycle event may be the old one.
func (a *Agent) GuestState(uuid libvirtmib.UUID) (libvirtmib.GuestState, error) {
	oid := libvirtmib.ColumnState.Cell(uuid)
	pkt, err := a.g.Get([]string{oid})
	if err != nil {
		return 0, fmt.Errorf("get libvirtGuestState of %s from %s: %w", uuid, a.Name, err)
	}
	if len(pkt.Variables) != 1 {
		return 0, fmt.Errorf("get libvirtGuestState of %s from %s: %d variables in the answer", uuid, a.Name, len(pkt.Variables))
	}
	v := pkt.Variables[0]
	switch v.Type {
	case gosnmp.Integer:
		return libvirtmib.GuestState(gosnmp.ToBigInt(v.Value).Int64()), nil
	case gosnmp.NoSuchInstance, gosnmp.NoSuchObject:
		return 0, fmt.Errorf("get libvirtGuestState of %s from %s: %w", uuid, a.Name, ErrNoGuest)
	default:
		return 0, fmt.Errorf("get libvirtGuestState of %s from %s: answer of type %v, want INTEGER", uuid, a.Name, v.Type)
	}
}

// ErrNoGuest: the agent has no row for the guest (undefined, or on another hypervisor).
var ErrNoGuest = fmt.Errorf("no such guest")
