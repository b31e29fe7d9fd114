// Command vcr-migrate: Moves standby containers between LXD servers with minimal downtime.
//
// Only -check (validate the inventory) is implemented so far.
package main

import (
	"fmt"
	"os"

	"github.com/vcrcovery/vcrcovery/internal/cli"
)

var program = cli.Program{
	Name:     "vcr-migrate",
	Synopsis: "vcr-migrate [-config PATH] [-check]",
	About:    "Moves standby containers between LXD servers with minimal downtime.",
	Main: func(env cli.Env) int {
		fmt.Fprintln(env.Stderr, "vcr-migrate: container migration is not built yet")
		return cli.ExitUsage
	},
}

func main() { os.Exit(cli.Run(program, os.Args[1:], os.Stdout, os.Stderr)) }
