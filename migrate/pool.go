package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/dcs"
	"github.com/vcrcovery/vcrcovery/internal/poolplan"
)

// planTimeout bounds -pool -plan: a handful of etcd reads.
const planTimeout = 10 * time.Second

// runPool runs the -pool modes.
func runPool(env cli.Env) int {
	inv := env.Inventory
	switch {
	case !pool || !plan:
		fmt.Fprintln(env.Stderr, "vcr-migrate: -plan goes with -pool (vcr-migrate -pool -plan)")
		return cli.ExitUsage
	case inv.Pool == nil:
		fmt.Fprintln(env.Stderr, "vcr-migrate: -pool: the inventory has no pool section")
		return cli.ExitUsage
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelRun := context.WithTimeout(ctx, planTimeout)
	defer cancelRun()
	c, err := dcs.Connect(ctx, poolplan.Options(inv.Pool))
	if err == nil {
		defer c.Close()
		var v poolplan.View
		if v, err = poolplan.Read(ctx, c, inv); err == nil {
			var p poolplan.Plan
			if p, err = poolplan.Build(inv, v, time.Now()); err != nil {
				fmt.Fprintf(env.Stderr, "vcr-migrate: -pool -plan: %v\n", err)
				return cli.ExitUsage
			}
			if asJSON {
				writeJSON(env, p)
			} else {
				poolplan.Write(env.Stdout, p)
			}
			return cli.ExitOK
		}
	}
	msg := fmt.Sprintf("read the pool %q from etcd %v: %v", inv.Pool.Name, inv.Pool.Etcd.Endpoints, err)
	if errors.Is(err, dcs.ErrUnreachable) {
		msg += " (no takeover can happen while etcd does not answer; owners keep serving)"
	}
	env.Log.Error("vcr-migrate -pool -plan failed", "err", msg)
	fmt.Fprintf(env.Stderr, "vcr-migrate: %s\n", msg)
	return cli.ExitRuntime
}
