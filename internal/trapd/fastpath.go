package trapd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/trapd/health"
	"github.com/vcrcovery/vcrcovery/internal/trapd/trap"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// fastAPI is what trapd asks of the Zabbix API (the fast path, and the deliverer's
// check of what history holds); *zabbix.API is the real one, tests give a fake.
type fastAPI interface {
	Stored(ctx context.Context, values []zabbix.Value) ([]bool, error)
	Version() string
	// Session reports a user login (script.execute on 6.0 needs one) over an API token.
	Session() bool
	HostID(ctx context.Context, host string) (string, error)
	ScriptsByName(ctx context.Context, name string) ([]zabbix.Script, error)
	ExecuteScript(ctx context.Context, scriptID, hostID string) (zabbix.ScriptResult, error)
}

// fastPath starts recovery through the Zabbix API (script.execute) as soon as a
// protected VM shuts off or crashes, instead of waiting for Zabbix's history syncer (1
// s) and escalator (3 s) to run the action. recover is idempotent (per-service lock, DNS
// compare-and-set), so the action that fires later does no harm.
type fastPath struct {
	inv      *config.Inventory
	log      *slog.Logger
	counters *health.Counters
	timeout  time.Duration
	// login opens the API: zabbix.Login with the inventory's credentials.
	login func(context.Context) (fastAPI, error)

	mu       sync.Mutex
	api      fastAPI
	hostIDs  map[string]string // standby Zabbix host -> hostid
	scripts  map[string]string // service -> scriptid
	inFlight map[string]bool
	wg       sync.WaitGroup
}

func newFastPath(inv *config.Inventory, log *slog.Logger, c *health.Counters) *fastPath {
	login := func(ctx context.Context) (fastAPI, error) {
		api, err := zabbix.Login(ctx, inv.Zabbix)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return api, nil
	}
	return &fastPath{inv: inv, log: log, counters: c, timeout: inv.Zabbix.Timeout, login: login,
		hostIDs: map[string]string{}, scripts: map[string]string{}, inFlight: map[string]bool{}}
}

// enabled reports whether some service asks for the fast path and the API is configured.
func (f *fastPath) enabled() bool {
	return f.inv.Zabbix.APIURL != ""
}

// client returns the API client, logging in on first use (the API may be down when
// trapd starts; traps must still flow then).
func (f *fastPath) client(ctx context.Context) (fastAPI, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.api != nil {
		return f.api, nil
	}
	api, err := f.login(ctx)
	if err != nil {
		return nil, err
	}
	f.api = api
	return api, nil
}

// ids looks up (and caches) the standby host's hostid and the service's script ID.
func (f *fastPath) ids(ctx context.Context, api fastAPI, svc *config.Service, standbyHost string) (hostID, scriptID string, err error) {
	f.mu.Lock()
	hostID, scriptID = f.hostIDs[standbyHost], f.scripts[svc.Name]
	f.mu.Unlock()
	if hostID == "" {
		if hostID, err = api.HostID(ctx, standbyHost); err != nil {
			return "", "", fmt.Errorf("look up standby host %s: %w", standbyHost, err)
		}
	}
	if scriptID == "" {
		name := zabbix.FastPathScript(f.inv.Zabbix.NamePrefix(), svc.Name)
		scripts, err := api.ScriptsByName(ctx, name)
		if err != nil {
			return "", "", fmt.Errorf("look up global script %q: %w", name, err)
		}
		if len(scripts) != 1 {
			return "", "", fmt.Errorf("global script %q: %d scripts with that name (provisioning creates it)", name, len(scripts))
		}
		if s := scripts[0].Scope; s != zabbix.ScriptScopeHost {
			return "", "", fmt.Errorf("global script %q has scope %d; script.execute needs scope %d (manual host action)", name, s, zabbix.ScriptScopeHost)
		}
		scriptID = scripts[0].ScriptID
	}
	f.mu.Lock()
	f.hostIDs[standbyHost], f.scripts[svc.Name] = hostID, scriptID
	f.mu.Unlock()
	return hostID, scriptID, nil
}

// warm looks up every fast-path service's IDs in the background, so the first trap
// costs one API call, and says early when provisioning has not created a script.
func (f *fastPath) warm(ctx context.Context) {
	for i := range f.inv.Services {
		svc := &f.inv.Services[i]
		if !svc.FastPath {
			continue
		}
		st, ok := f.inv.Standby(svc.Standby.Host)
		if !ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, f.timeout)
		api, err := f.client(cctx)
		if err == nil {
			_, _, err = f.ids(cctx, api, svc, st.ZabbixHost)
			if !api.Session() && strings.HasPrefix(api.Version(), "6.0.") {
				f.log.Warn("fast path: Zabbix 6.0's script.execute fails with an API token (it needs a user session); give zabbix.username and password_file",
					"service", svc.Name, "zabbix_version", api.Version())
			}
		}
		cancel()
		if err != nil {
			f.log.Warn("fast path not ready (retried at the first trap)", "service", svc.Name, "err", err)
		}
	}
}

// trigger runs the service's recover script on its standby host, asynchronously. A
// call already running for the service is not doubled.
func (f *fastPath) trigger(svc *config.Service, g trap.Guest) {
	f.mu.Lock()
	if f.inFlight[svc.Name] {
		f.mu.Unlock()
		f.log.Info("fast path already running", "service", svc.Name)
		return
	}
	f.inFlight[svc.Name] = true
	f.mu.Unlock()
	f.counters.FastPath.Add(1)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() {
			f.mu.Lock()
			delete(f.inFlight, svc.Name)
			f.mu.Unlock()
		}()
		start := time.Now()
		out, err := f.execute(svc)
		log := f.log.With("service", svc.Name, "vm_uuid", g.UUID.String(), "state", g.State.String(),
			"duration_seconds", time.Since(start).Seconds(), "since_trap_seconds", time.Since(g.Received).Seconds())
		if err != nil {
			f.counters.FastPathFailed.Add(1)
			log.Error("fast path: script.execute failed (the Zabbix action will still run recover)", "err", err)
			return
		}
		log.Info("fast path: recover started through script.execute", "output", truncate(out, 200))
	}()
}

func (f *fastPath) execute(svc *config.Service) (string, error) {
	st, ok := f.inv.Standby(svc.Standby.Host)
	if !ok {
		return "", fmt.Errorf("service %s: standby %q not in the inventory", svc.Name, svc.Standby.Host)
	}
	// Independent of trapd's shutdown: a recovery once started is seen through.
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	out, err := f.executeOnce(ctx, svc, st.ZabbixHost)
	if errors.Is(err, zabbix.ErrSessionExpired) {
		// The session expired (the user's auto-logout): log in again, once.
		f.mu.Lock()
		f.api = nil
		f.mu.Unlock()
		out, err = f.executeOnce(ctx, svc, st.ZabbixHost)
	}
	return out, err
}

// executeOnce runs the service's script on standbyHost with the current session.
func (f *fastPath) executeOnce(ctx context.Context, svc *config.Service, standbyHost string) (string, error) {
	api, err := f.client(ctx)
	if err != nil {
		return "", err
	}
	hostID, scriptID, err := f.ids(ctx, api, svc, standbyHost)
	if err != nil {
		return "", err
	}
	name := zabbix.FastPathScript(f.inv.Zabbix.NamePrefix(), svc.Name)
	res, err := api.ExecuteScript(ctx, scriptID, hostID)
	if err != nil {
		// The script may have been replaced (new ID): look it up again next time.
		f.mu.Lock()
		delete(f.scripts, svc.Name)
		f.mu.Unlock()
		return "", fmt.Errorf("script.execute %q on %s: %w", name, standbyHost, err)
	}
	if res.Response != "success" {
		return res.Value, fmt.Errorf("script.execute %q on %s: response %q", name, standbyHost, res.Response)
	}
	return res.Value, nil
}

// stored asks Zabbix which of values its history holds (zabbix.API.Stored), through
// the fast path's client.
func (f *fastPath) stored(ctx context.Context, values []zabbix.Value) ([]bool, error) {
	api, err := f.client(ctx)
	if err != nil {
		return nil, err
	}
	found, err := api.Stored(ctx, values)
	if errors.Is(err, zabbix.ErrSessionExpired) {
		f.mu.Lock()
		f.api = nil
		f.mu.Unlock()
	}
	return found, err
}

// wait waits for running calls, at most until ctx ends.
func (f *fastPath) wait(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
