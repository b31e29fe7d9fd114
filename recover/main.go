// Command vcr-recover: Recovers a service into its standby LXD container and switches its DNS name.
//
// Only -check (validate the inventory) is implemented so far.
package main

import (
	"fmt"
	"os"

	"github.com/vcrcovery/vcrcovery/internal/cli"
)

var program = cli.Program{
	Name:     "vcr-recover",
	Synopsis: "vcr-recover [-config PATH] [-check]",
	About:    "Recovers a service into its standby LXD container and switches its DNS name.",
	Main: func(env cli.Env) int {
		fmt.Fprintln(env.Stderr, "vcr-recover: this is not built yet (issue 6); only -check works")
		return cli.ExitUsage
	},
}

func main() { os.Exit(cli.Run(program, os.Args[1:], os.Stdout, os.Stderr)) }
