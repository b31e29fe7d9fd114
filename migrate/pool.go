package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/dcs"
	pooling "github.com/vcrcovery/vcrcovery/internal/pool"
	"github.com/vcrcovery/vcrcovery/internal/poolplan"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// planTimeout bounds -pool -plan: a handful of etcd reads.
const planTimeout = 10 * time.Second

// runPool runs the -pool modes.
func runPool(env cli.Env) int {
	inv := env.Inventory
	switch {
	case !pool || plan == (poolHost != ""):
		fmt.Fprintln(env.Stderr, "vcr-migrate: -pool takes -plan (print the pool) or -host NAME (run its agent)")
		return cli.ExitUsage
	case inv.Pool == nil:
		fmt.Fprintln(env.Stderr, "vcr-migrate: -pool: the inventory has no pool section")
		return cli.ExitUsage
	case poolHost != "":
		return runAgent(env)
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

// runAgent runs the pool agent until SIGTERM or SIGINT.
func runAgent(env cli.Env) int {
	inv := env.Inventory
	if !slices.ContainsFunc(inv.PoolHosts(), func(s config.Standby) bool { return s.Name == poolHost }) {
		fmt.Fprintf(env.Stderr, "vcr-migrate: -pool -host %s: %v\n", poolHost, pooling.ErrNotPoolHost)
		return cli.ExitUsage
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	opts := poolplan.Options(inv.Pool)
	opts.Logger = env.Log
	// The client outlives the signal: the step-down after SIGTERM still commits a last
	// snapshot and revokes the lease through it.
	c, err := dcs.Connect(context.WithoutCancel(ctx), opts)
	if err == nil {
		defer c.Close()
		a := &pooling.Agent{
			Inventory: inv, Host: poolHost, DCS: c, Log: env.Log,
			DNS:    inv.DNSClient(),
			Zabbix: &zabbix.Sender{Addr: inv.Zabbix.Server.String(), Timeout: inv.Zabbix.Timeout},
		}
		if err = a.Run(ctx); err == nil {
			return cli.ExitOK
		}
	}
	msg := fmt.Sprintf("pool agent of %s in pool %q (etcd %v): %v", poolHost, inv.Pool.Name, inv.Pool.Etcd.Endpoints, err)
	env.Log.Error("vcr-migrate -pool failed", "err", msg)
	fmt.Fprintf(env.Stderr, "vcr-migrate: %s\n", msg)
	if errors.Is(err, container.ErrConfig) {
		return cli.ExitUsage
	}
	return cli.ExitRuntime
}
