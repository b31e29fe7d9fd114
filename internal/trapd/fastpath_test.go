package trapd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/ratelog"
	"github.com/vcrcovery/vcrcovery/internal/trapd/trap"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// fakeZabbix is the fast path's Zabbix API: it records each call and answers
// script.execute with the next of exec (nil: success).
type fakeZabbix struct {
	mu       *sync.Mutex
	calls    []string
	session  bool
	loginErr error
	hostErr  error
	scripts  []zabbix.Script
	exec     []error
	// release, when set, holds script.execute (which first says so on entered) until
	// it is closed.
	release, entered chan struct{}
}

func (z *fakeZabbix) record(call string) {
	z.mu.Lock()
	z.calls = append(z.calls, call)
	z.mu.Unlock()
}

func (z *fakeZabbix) login(ctx context.Context) (fastAPI, error) {
	z.record("login")
	if z.loginErr != nil {
		return nil, z.loginErr
	}
	return z, nil
}

func (z *fakeZabbix) Stored(ctx context.Context, values []zabbix.Value) ([]bool, error) {
	return nil, errors.New("the fast path asks no history")
}

func (z *fakeZabbix) Version() string { return "6.0.14" }
func (z *fakeZabbix) Session() bool   { return z.session }

func (z *fakeZabbix) HostID(ctx context.Context, host string) (string, error) {
	z.record("host " + host)
	return "10084", z.hostErr
}

func (z *fakeZabbix) ScriptsByName(ctx context.Context, name string) ([]zabbix.Script, error) {
	z.record("script.get " + name)
	return z.scripts, nil
}

func (z *fakeZabbix) ExecuteScript(ctx context.Context, scriptID, hostID string) (zabbix.ScriptResult, error) {
	z.record("script.execute " + scriptID + " on " + hostID)
	if z.release != nil {
		z.entered <- struct{}{}
		<-z.release
	}
	z.mu.Lock()
	var err error
	if len(z.exec) > 0 {
		err, z.exec = z.exec[0], z.exec[1:]
	}
	z.mu.Unlock()
	if err != nil {
		return zabbix.ScriptResult{}, err
	}
	return zabbix.ScriptResult{Response: "success", Value: "recover started"}, nil
}

var (
	manualScript = []zabbix.Script{{ScriptID: "7", Name: "vcrcovery recover web1", Scope: zabbix.ScriptScopeHost}}
	// What 6.0 answers a call with a session it has ended.
	errExpired = &zabbix.APIError{Method: "script.execute", Code: -32602, Message: "Invalid params.", Data: "Session terminated, re-login, please."}
	// What ExecuteScript makes of 6.0's HTTP 500 to a token.
	errToken = fmt.Errorf("%w: %w", zabbix.ErrTokenRefused, &zabbix.HTTPError{Method: "script.execute", Status: "500 Internal Server Error", Code: 500})
	errAPI   = &zabbix.APIError{Method: "script.execute", Code: -32500, Message: "Application error.", Data: "Cannot execute script."}
)

// fastPipeline is a pipeline whose web1 has the fast path, with z as its API; traps
// are a second old when handled.
func fastPipeline(t *testing.T, z *fakeZabbix) (*pipeline, *fastPath, *bytes.Buffer) {
	t.Helper()
	p, c := testPipeline(t, t.TempDir(), "")
	inv := p.router.inv
	inv.Services[0].FastPath = true
	inv.Zabbix.APIURL = "http://zabbix.invalid/api_jsonrpc.php"
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	f := newFastPath(inv, log, c)
	f.login, f.timeout = z.login, 5*time.Second
	p.fast, p.log, p.limiter = f, log, ratelog.New(log, time.Minute)
	p.now = func() time.Time { return time.Unix(1795318950, 0) }
	return p, f, &logs
}

// TestFastPath is the fast path's decision table: which traps start recover through
// script.execute, what is looked up and cached, and what an API error, a refused
// token and an expired session do.
func TestFastPath(t *testing.T) {
	shutoff := guestTrap("127.0.0.1", uuidWeb1, "web1", libvirtmib.StateShutoff)
	type counts struct{ Runs, Failed uint64 }
	tests := []struct {
		name    string
		api     fakeZabbix
		traps   []trap.Trap
		noURL   bool
		old     bool
		want    []string
		counts  counts
		wantLog string
	}{
		{name: "shutoff starts recover", traps: []trap.Trap{shutoff},
			want:   []string{"login", "host standby", "script.get vcrcovery recover web1", "script.execute 7 on 10084"},
			counts: counts{1, 0}, wantLog: "fast path: recover started through script.execute"},
		{name: "crashed starts recover", traps: []trap.Trap{guestTrap("127.0.0.1", uuidWeb1, "web1", libvirtmib.StateCrashed)},
			want:   []string{"login", "host standby", "script.get vcrcovery recover web1", "script.execute 7 on 10084"},
			counts: counts{1, 0}},
		{name: "running does not", traps: []trap.Trap{guestTrap("127.0.0.1", uuidWeb1, "web1", libvirtmib.StateRunning)}},
		{name: "shut down (still running its shutdown) does not", traps: []trap.Trap{guestTrap("127.0.0.1", uuidWeb1, "web1", libvirtmib.StateShutdown)}},
		{name: "service without fast_path", traps: []trap.Trap{guestTrap("127.0.0.1", uuidWeb2, "web2", libvirtmib.StateShutoff)}},
		{name: "trap not from the service's hypervisor", traps: []trap.Trap{guestTrap("192.0.2.1", uuidWeb1, "web1", libvirtmib.StateShutoff)},
			wantLog: "fast path skipped: the trap did not come from the service's hypervisor"},
		{name: "trap too old", old: true, traps: []trap.Trap{shutoff}, wantLog: "fast path skipped: trap too old"},
		{name: "no api_url", noURL: true, traps: []trap.Trap{shutoff}},
		{name: "ids cached: the second trap costs one call", traps: []trap.Trap{shutoff, shutoff},
			want: []string{"login", "host standby", "script.get vcrcovery recover web1", "script.execute 7 on 10084",
				"script.execute 7 on 10084"},
			counts: counts{2, 0}},
		{name: "API error: counted, the script looked up again next time", api: fakeZabbix{exec: []error{errAPI}}, traps: []trap.Trap{shutoff, shutoff},
			want: []string{"login", "host standby", "script.get vcrcovery recover web1", "script.execute 7 on 10084",
				"script.get vcrcovery recover web1", "script.execute 7 on 10084"},
			counts: counts{2, 1}, wantLog: "Cannot execute script."},
		{name: "token refused: no retry, says what to configure", api: fakeZabbix{exec: []error{errToken}}, traps: []trap.Trap{shutoff},
			want:   []string{"login", "host standby", "script.get vcrcovery recover web1", "script.execute 7 on 10084"},
			counts: counts{1, 1}, wantLog: "give zabbix.username and password_file"},
		{name: "expired session: log in again, once", api: fakeZabbix{session: true, exec: []error{errExpired}}, traps: []trap.Trap{shutoff},
			want: []string{"login", "host standby", "script.get vcrcovery recover web1", "script.execute 7 on 10084",
				"login", "script.get vcrcovery recover web1", "script.execute 7 on 10084"},
			counts: counts{1, 0}, wantLog: "fast path: recover started through script.execute"},
		{name: "session still refused after the new login: failed", api: fakeZabbix{session: true, exec: []error{errExpired, errExpired}}, traps: []trap.Trap{shutoff},
			want: []string{"login", "host standby", "script.get vcrcovery recover web1", "script.execute 7 on 10084",
				"login", "script.get vcrcovery recover web1", "script.execute 7 on 10084"},
			counts: counts{1, 1}, wantLog: "re-login"},
		{name: "login fails", api: fakeZabbix{loginErr: errors.New("connection refused")}, traps: []trap.Trap{shutoff},
			want: []string{"login"}, counts: counts{1, 1}, wantLog: "connection refused"},
		{name: "standby host unknown to Zabbix", api: fakeZabbix{hostErr: errors.New("0 hosts named standby")}, traps: []trap.Trap{shutoff},
			want: []string{"login", "host standby"}, counts: counts{1, 1}, wantLog: "look up standby host standby: 0 hosts named standby"},
		{name: "script not provisioned", api: fakeZabbix{scripts: []zabbix.Script{}}, traps: []trap.Trap{shutoff},
			want: []string{"login", "host standby", "script.get vcrcovery recover web1"}, counts: counts{1, 1}, wantLog: "provisioning creates it"},
		{name: "script of the action scope", api: fakeZabbix{scripts: []zabbix.Script{{ScriptID: "7", Scope: zabbix.ScriptScopeAction}}}, traps: []trap.Trap{shutoff},
			want: []string{"login", "host standby", "script.get vcrcovery recover web1"}, counts: counts{1, 1}, wantLog: "needs scope 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := &tt.api
			z.mu = &sync.Mutex{}
			if z.scripts == nil {
				z.scripts = manualScript
			}
			p, f, logs := fastPipeline(t, z)
			if tt.noURL {
				p.router.inv.Zabbix.APIURL = ""
			}
			if tt.old {
				p.now = func() time.Time { return time.Unix(1795318949, 0).Add(time.Hour) }
			}
			for _, tr := range tt.traps {
				p.values(tr)
				f.wait(context.Background()) // one trap's call at a time
			}
			if diff := cmp.Diff(tt.want, z.calls); diff != "" {
				t.Errorf("API calls (-want +got):\n%s", diff)
			}
			got := counts{p.counters.FastPath.Load(), p.counters.FastPathFailed.Load()}
			if diff := cmp.Diff(tt.counts, got); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
			if !bytes.Contains(logs.Bytes(), []byte(tt.wantLog)) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs)
			}
		})
	}
}

// TestFastPathNotDoubled: a trap while the service's call is still running starts no
// second one (trapd sees shutoff from the trap and again from a follow-mode log).
func TestFastPathNotDoubled(t *testing.T) {
	z := &fakeZabbix{mu: &sync.Mutex{}, scripts: manualScript, release: make(chan struct{}), entered: make(chan struct{}, 1)}
	p, f, logs := fastPipeline(t, z)
	shutoff := guestTrap("127.0.0.1", uuidWeb1, "web1", libvirtmib.StateShutoff)
	p.values(shutoff)
	<-z.entered // the call is under way
	p.values(shutoff)
	close(z.release)
	f.wait(context.Background())
	want := []string{"login", "host standby", "script.get vcrcovery recover web1", "script.execute 7 on 10084"}
	if diff := cmp.Diff(want, z.calls); diff != "" {
		t.Errorf("API calls (-want +got):\n%s", diff)
	}
	if n := p.counters.FastPath.Load(); n != 1 {
		t.Errorf("fast_path counter %d, want 1", n)
	}
	if !bytes.Contains(logs.Bytes(), []byte("fast path already running")) {
		t.Errorf("log:\n%s", logs)
	}
	// Once it has ended, the next trap runs it again.
	p.values(shutoff)
	f.wait(context.Background())
	if n := p.counters.FastPath.Load(); n != 2 {
		t.Errorf("fast_path counter after the call ended: %d, want 2", n)
	}
}
