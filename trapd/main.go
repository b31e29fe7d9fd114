// Command vcr-trapd: Receives libvirt-snmp traps (libvirtGuestNotif) and sends VM state items to Zabbix.
//
// Only -check (validate the inventory) is implemented so far.
package main

import (
	"fmt"
	"os"

	"github.com/vcrcovery/vcrcovery/internal/cli"
)

var program = cli.Program{
	Name:     "vcr-trapd",
	Synopsis: "vcr-trapd [-config PATH] [-check]",
	About:    "Receives libvirt-snmp traps (libvirtGuestNotif) and sends VM state items to Zabbix.",
	Main: func(env cli.Env) int {
		fmt.Fprintln(env.Stderr, "vcr-trapd: this is not built yet (issue 4); only -check works")
		return cli.ExitUsage
	},
}

func main() { os.Exit(cli.Run(program, os.Args[1:], os.Stdout, os.Stderr)) }
