// Package labsnmp points a test's inventory at a test's own lab SNMP agent
// (lab.StartAgent). It is apart from package lab, which config's own tests import.
package labsnmp

import (
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/lab"
)

// UseV3 points the inventory's first hypervisor at agent a over SNMPv3 as a's user
// (added to snmp.users), authPriv with SHA and AES: the lab's v2c hypervisor entry
// stays untouched for the rest of the suite, since inv is the test's own copy.
func UseV3(inv *config.Inventory, a *lab.Agent) error {
	hp, err := config.ParseHostPort(a.Addr)
	if err != nil {
		return err
	}
	u := config.V3User{Name: a.V3.Name, AuthProtocol: config.AuthSHA, AuthPassphraseFile: a.V3.AuthPassFile,
		PrivProtocol: config.PrivAES, PrivPassphraseFile: a.V3.PrivPassFile}
	inv.SNMP.Users = append(inv.SNMP.Users, u)
	h := &inv.Hypervisors[0]
	h.Address, h.Version, h.User, h.CommunityFile = hp, config.SNMPv3, &inv.SNMP.Users[len(inv.SNMP.Users)-1], ""
	return nil
}
