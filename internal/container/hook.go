package container

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
)

// Execer runs a command inside a container (Server.Exec).
type Execer interface {
	Exec(ctx context.Context, name string, cmd []string) (ExecResult, error)
}

// Starter is what brings a service's container up and checks it (Server): a recovery
// does it to the real container, a drill to a scratch instance or a warm container.
type Starter interface {
	Execer
	Ensure(ctx context.Context, spec Spec) (Outcome, error)
	WaitIPv4(ctx context.Context, name, iface string) (netip.Addr, error)
	Running(ctx context.Context, name string) (bool, error)
}

// ErrHookTimeout: the hook ran past its timeout and was killed.
var ErrHookTimeout = errors.New("killed at its timeout")

// HookExitError is a hook that ran and exited non-zero.
type HookExitError struct {
	Hook   string
	Code   int
	Output string // trimmed, at most the first 4 KiB
}

func (e *HookExitError) Error() string {
	return fmt.Sprintf("hook %s exited %d: %s", e.Hook, e.Code, e.Output)
}

// killGrace is how long after a hook's timeout the run stops waiting for LXD's answer
// when the container's own timeout(1) did not end it.
const killGrace = 5 * time.Second

// RunHook runs h inside container name and returns its trimmed output. The command is
// wrapped in the container's timeout(1) (coreutils or busybox) with SIGKILL: ending
// the LXD exec request alone would leave the process running in the container, and a
// sync that hangs must not be found still copying by the next period or a failover.
// A hook killed at its timeout returns ErrHookTimeout; a non-zero exit a
// *HookExitError.
func RunHook(ctx context.Context, e Execer, name string, h config.Hook) (string, error) {
	secs := strconv.FormatFloat(h.Timeout.Seconds(), 'f', -1, 64)
	cmd := append([]string{"timeout", "-s", "KILL", secs}, h.Command...)
	hctx, cancel := context.WithTimeout(ctx, h.Timeout+killGrace)
	defer cancel()
	t0 := time.Now()
	res, err := e.Exec(hctx, name, cmd)
	elapsed := time.Since(t0)
	switch {
	case err != nil && hctx.Err() != nil && ctx.Err() == nil:
		return "", fmt.Errorf("hook %s (%q) in %s: %w after %s", h.Name, h.Command, name, ErrHookTimeout, h.Timeout)
	case err != nil:
		return "", fmt.Errorf("hook %s: %w", h.Name, err)
	}
	out := strings.TrimSpace(res.Output)
	switch {
	case res.ExitCode == 0:
		return out, nil
	// timeout(1) exits 124 (coreutils' TERM) or the program dies of the KILL (137);
	// a program that exits 137 by itself before its time is not a timeout.
	case (res.ExitCode == 124 || res.ExitCode == 137) && elapsed >= h.Timeout:
		return out, fmt.Errorf("hook %s (%q) in %s: %w after %s", h.Name, h.Command, name, ErrHookTimeout, h.Timeout)
	}
	return out, &HookExitError{Hook: h.Name, Code: res.ExitCode, Output: out}
}
