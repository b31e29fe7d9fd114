// Command vcr-sender: Samples each hypervisor's LIBVIRT-MIB guest table over SNMP and sends CPU % per VM to Zabbix.
//
// Only -check (validate the inventory) is implemented so far.
package main

import (
	"fmt"
	"os"

	"github.com/vcrcovery/vcrcovery/internal/cli"
)

var program = cli.Program{
	Name:     "vcr-sender",
	Synopsis: "vcr-sender [-config PATH] [-check]",
	About:    "Samples each hypervisor's LIBVIRT-MIB guest table over SNMP and sends CPU % per VM to Zabbix.",
	Main: func(env cli.Env) int {
		fmt.Fprintln(env.Stderr, "vcr-sender: this is not built yet (issue 5); only -check works")
		return cli.ExitUsage
	},
}

func main() { os.Exit(cli.Run(program, os.Args[1:], os.Stdout, os.Stderr)) }
