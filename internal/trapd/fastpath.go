package trapd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/secret"
	"github.com/vcrcovery/vcrcovery/internal/trapd/health"
	"github.com/vcrcovery/vcrcovery/internal/trapd/trap"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// ScriptName is the name of the global script (scope 2, "manual host action") that the
// fast path runs on a service's standby host; provisioning creates one per service.
func ScriptName(service string) string { return "vcrcovery recover " + service }

// scriptScopeManualHost is script.scope 2: a manual host action, the only scope
// script.execute accepts (Zabbix 6.0 API, script object).
const scriptScopeManualHost = 2

// fastPath starts recovery through the Zabbix API (script.execute) as soon as a
// protected VM shuts off or crashes, instead of waiting for Zabbix's history syncer (1
// s) and escalator (3 s) to run the action. recover is idempotent (per-service lock, DNS
// compare-and-set), so the action that fires later does no harm.
type fastPath struct {
	inv      *config.Inventory
	log      *slog.Logger
	counters *health.Counters
	timeout  time.Duration

	mu       sync.Mutex
	api      *zabbix.API
	hostIDs  map[string]string // standby Zabbix host -> hostid
	scripts  map[string]string // service -> scriptid
	inFlight map[string]bool
	wg       sync.WaitGroup
}

func newFastPath(inv *config.Inventory, log *slog.Logger, c *health.Counters) *fastPath {
	return &fastPath{inv: inv, log: log, counters: c, timeout: inv.Zabbix.Timeout,
		hostIDs: map[string]string{}, scripts: map[string]string{}, inFlight: map[string]bool{}}
}

// enabled reports whether some service asks for the fast path and the API is configured.
func (f *fastPath) enabled() bool {
	return f.inv.Zabbix.APIURL != ""
}

// client returns the API client, logging in on first use (the API may be down when
// trapd starts; traps must still flow then).
func (f *fastPath) client(ctx context.Context) (*zabbix.API, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.api != nil {
		return f.api, nil
	}
	z := f.inv.Zabbix
	o := zabbix.APIOptions{URL: z.APIURL, Timeout: z.Timeout, Username: z.Username}
	var err error
	if z.APITokenFile != "" {
		o.Token, err = secret.ReadFile(z.APITokenFile)
	} else {
		o.Password, err = secret.ReadFile(z.PasswordFile)
	}
	if err != nil {
		return nil, fmt.Errorf("zabbix API credentials: %w", err)
	}
	api, err := zabbix.NewAPI(ctx, o)
	if err != nil {
		return nil, err
	}
	f.api = api
	return api, nil
}

// ids looks up (and caches) the standby host's hostid and the service's script ID.
func (f *fastPath) ids(ctx context.Context, api *zabbix.API, svc *config.Service, standbyHost string) (hostID, scriptID string, err error) {
	f.mu.Lock()
	hostID, scriptID = f.hostIDs[standbyHost], f.scripts[svc.Name]
	f.mu.Unlock()
	if hostID == "" {
		var hosts []struct {
			HostID string `json:"hostid"`
		}
		if err := api.Call(ctx, "host.get", map[string]any{"output": []string{"hostid"}, "filter": map[string]any{"host": []string{standbyHost}}}, &hosts); err != nil {
			return "", "", fmt.Errorf("look up standby host %s: %w", standbyHost, err)
		}
		if len(hosts) != 1 {
			return "", "", fmt.Errorf("look up standby host %s: %d hosts with that name", standbyHost, len(hosts))
		}
		hostID = hosts[0].HostID
	}
	if scriptID == "" {
		name := ScriptName(svc.Name)
		var scripts []struct {
			ScriptID string          `json:"scriptid"`
			Scope    json.RawMessage `json:"scope"`
		}
		if err := api.Call(ctx, "script.get", map[string]any{"output": []string{"scriptid", "scope"}, "filter": map[string]any{"name": name}}, &scripts); err != nil {
			return "", "", fmt.Errorf("look up global script %q: %w", name, err)
		}
		if len(scripts) != 1 {
			return "", "", fmt.Errorf("global script %q: %d scripts with that name (provisioning creates it)", name, len(scripts))
		}
		if s := string(scripts[0].Scope); s != `"2"` && s != "2" {
			return "", "", fmt.Errorf("global script %q has scope %s; script.execute needs scope %d (manual host action)", name, s, scriptScopeManualHost)
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
			if f.inv.Zabbix.APITokenFile != "" && strings.HasPrefix(api.Version(), "6.0.") {
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
	api, err := f.client(ctx)
	if err != nil {
		return "", err
	}
	hostID, scriptID, err := f.ids(ctx, api, svc, st.ZabbixHost)
	if err != nil {
		return "", err
	}
	var res struct {
		Response string `json:"response"`
		Value    string `json:"value"`
	}
	err = api.Call(ctx, "script.execute", map[string]any{"scriptid": scriptID, "hostid": hostID}, &res)
	var apiErr *zabbix.APIError
	if errors.As(err, &apiErr) && f.inv.Zabbix.Username != "" && strings.Contains(apiErr.Data+apiErr.Message, "re-login") {
		// The session expired (the user's auto-logout): log in again, once.
		f.mu.Lock()
		f.api = nil
		f.mu.Unlock()
		if api, err = f.client(ctx); err == nil {
			err = api.Call(ctx, "script.execute", map[string]any{"scriptid": scriptID, "hostid": hostID}, &res)
		}
	}
	if err != nil {
		// The script may have been replaced (new ID): look it up again next time.
		f.mu.Lock()
		delete(f.scripts, svc.Name)
		f.mu.Unlock()
		if f.inv.Zabbix.APITokenFile != "" && strings.Contains(err.Error(), "HTTP 500") {
			err = fmt.Errorf("%w (Zabbix 6.0's script.execute needs a user session: with an API token its frontend fails in executeScript for lack of a session ID; give zabbix.username and password_file instead of api_token_file)", err)
		}
		return "", fmt.Errorf("script.execute %q on %s: %w", ScriptName(svc.Name), st.ZabbixHost, err)
	}
	if res.Response != "success" {
		return res.Value, fmt.Errorf("script.execute %q on %s: response %q", ScriptName(svc.Name), st.ZabbixHost, res.Response)
	}
	return res.Value, nil
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
