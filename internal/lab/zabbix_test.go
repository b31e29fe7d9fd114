package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Smoke tests of the lab's Zabbix component (scripts/lab.d/zabbix.sh) with the real
// zabbix_sender, zabbix_get and a bare JSON-RPC client: they check the lab, not the
// project's own Zabbix client (internal/zabbix).

// zbxError is an error object of a JSON-RPC answer.
type zbxError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data"`
}

func (e *zbxError) Error() string { return fmt.Sprintf("%s %s (code %d)", e.Message, e.Data, e.Code) }

// zbxCall calls a Zabbix 6.0 API method. auth (a session or an API token) goes in the body
// field "auth": 6.0 does not accept a Bearer header.
func zbxCall(ctx context.Context, url, auth, method string, params, result any) error {
	req := map[string]any{"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
	if auth != "" {
		req["auth"] = auth
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	hreq.Header.Set("Content-Type", "application/json-rpc")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *zbxError       `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: HTTP %s, not JSON-RPC: %w", method, resp.Status, err)
	}
	if r.Error != nil {
		return fmt.Errorf("%s: %w", method, r.Error)
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, result); err != nil {
		return fmt.Errorf("%s: result: %w", method, err)
	}
	return nil
}

// zbxAPI is the lab's API URL and a session of the lab user, logged out at the end.
type zbxAPI struct {
	t    *testing.T
	url  string
	auth string
}

// call fails the test when the call fails.
func (a *zbxAPI) call(method string, params, result any) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := zbxCall(ctx, a.url, a.auth, method, params, result); err != nil {
		a.t.Fatal(err)
	}
}

func zbxLogin(t *testing.T) *zbxAPI {
	t.Helper()
	url, user := Need(t, "ZABBIX_API"), Need(t, "ZABBIX_USER")
	pw, err := os.ReadFile(Need(t, "ZABBIX_PASSWORD_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var session string
	// 6.0 takes "username"; the older "user" is deprecated and both at once is an error.
	params := map[string]any{"username": user, "password": strings.TrimSpace(string(pw))}
	if err := zbxCall(ctx, url, "", "user.login", params, &session); err != nil {
		var rpcErr *zbxError
		if errors.As(err, &rpcErr) {
			t.Fatal(err)
		}
		Missing(t, "zabbix-api", err)
	}
	a := &zbxAPI{t: t, url: url, auth: session}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := zbxCall(ctx, url, session, "user.logout", []any{}, nil); err != nil {
			t.Logf("user.logout: %v", err)
		}
	})
	return a
}

// zbxTool finds a Zabbix command-line tool; Debian puts zabbix_server in /usr/sbin, which
// is not on every PATH.
func zbxTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
		if p, err := exec.LookPath(dir + "/" + name); err == nil {
			return p
		}
	}
	Missing(t, name, exec.ErrNotFound)
	return ""
}

// TestZabbixTrapperStoresValue: a value sent with the real zabbix_sender to a trapper item
// created through the API ends up in the item's history.
func TestZabbixTrapperStoresValue(t *testing.T) {
	a := zbxLogin(t)
	trapper, conf := Need(t, "ZABBIX_TRAPPER"), Need(t, "ZABBIX_SERVER_CONF")
	tHost, tPort, err := net.SplitHostPort(trapper)
	if err != nil {
		t.Fatalf("VCR_LAB_ZABBIX_TRAPPER: %v", err)
	}
	const groupName, hostName = "vcr-lab-smoke", "lab-smoke"
	run := time.Now().UnixNano()
	key := fmt.Sprintf("vcr.smoke[%d]", run)
	want := fmt.Sprintf("vcr-smoke-%d", run)

	// Reuse what an interrupted earlier run left behind; remove it all at the end.
	var groups []struct {
		GroupID string `json:"groupid"`
	}
	a.call("hostgroup.get", map[string]any{"output": []string{"groupid"}, "filter": map[string]any{"name": groupName}}, &groups)
	var groupID string
	if len(groups) > 0 {
		groupID = groups[0].GroupID
	} else {
		var created struct {
			GroupIDs []string `json:"groupids"`
		}
		a.call("hostgroup.create", map[string]any{"name": groupName}, &created)
		groupID = created.GroupIDs[0]
	}
	t.Cleanup(func() { a.call("hostgroup.delete", []string{groupID}, nil) })

	var hosts []struct {
		HostID string `json:"hostid"`
	}
	a.call("host.get", map[string]any{"output": []string{"hostid"}, "filter": map[string]any{"host": hostName}}, &hosts)
	var hostID string
	if len(hosts) > 0 {
		hostID = hosts[0].HostID
	} else {
		var created struct {
			HostIDs []string `json:"hostids"`
		}
		a.call("host.create", map[string]any{"host": hostName, "groups": []any{map[string]any{"groupid": groupID}}}, &created)
		hostID = created.HostIDs[0]
	}
	// Registered after the group's cleanup, so it runs first: a group with hosts cannot go.
	t.Cleanup(func() { a.call("host.delete", []string{hostID}, nil) })

	var items struct {
		ItemIDs []string `json:"itemids"`
	}
	// type 2 = Zabbix trapper, value_type 4 = text.
	a.call("item.create", map[string]any{"hostid": hostID, "name": "lab smoke " + key, "key_": key, "type": 2, "value_type": 4}, &items)
	itemID := items.ItemIDs[0]

	// The trapper knows only items in its configuration cache; make it reload now instead
	// of after CacheUpdateFrequency.
	Run(t, 30*time.Second, zbxTool(t, "zabbix_server"), "-c", conf, "-R", "config_cache_reload")

	// The reload runs after the runtime command returns: until it is done the trapper
	// answers "failed: 1" for the new key, so send until the value is processed.
	sender := zbxTool(t, "zabbix_sender")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []byte
	for sends := 1; ; sends++ {
		out, err = exec.CommandContext(ctx, sender, "-z", tHost, "-p", tPort, "-s", hostName, "-k", key, "-o", want).CombinedOutput()
		if err == nil && bytes.Contains(out, []byte("processed: 1; failed: 0")) {
			t.Logf("value processed at send %d", sends)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("zabbix_sender never got the value processed: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The history syncer writes the value within about a second.
	ctx, cancel = context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var got []string
	for {
		var history []struct {
			Value string `json:"value"`
		}
		err := zbxCall(ctx, a.url, a.auth, "history.get", map[string]any{
			"output": "extend", "history": 4, "itemids": []string{itemID},
			"sortfield": "clock", "sortorder": "DESC", "limit": 10,
		}, &history)
		got = got[:0]
		for _, h := range history {
			if h.Value == want {
				return
			}
			got = append(got, h.Value)
		}
		if ctx.Err() != nil {
			t.Fatalf("history of %s on %s: got %q (last error: %v), want %q", key, hostName, got, err, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestZabbixAgentRunsCommand: the lab agent (the standby VM's) runs remote commands, and
// as root, which recovery on the standby needs.
func TestZabbixAgentRunsCommand(t *testing.T) {
	host, port, err := net.SplitHostPort(Need(t, "ZABBIX_AGENT"))
	if err != nil {
		t.Fatalf("VCR_LAB_ZABBIX_AGENT: %v", err)
	}
	get := zbxTool(t, "zabbix_get")
	for _, tc := range []struct{ key, want string }{
		{"system.run[echo vcr-ok]", "vcr-ok"},
		{"system.run[id -u]", "0"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			got := strings.TrimSpace(Run(t, 40*time.Second, get, "-s", host, "-p", port, "-k", tc.key))
			if got != tc.want {
				t.Errorf("zabbix_get -k %q = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

var zbxTokenRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestZabbixAPIToken: the lab's API token file holds exactly a 6.0 API token (no newline)
// that authenticates calls, and the lab disabled the built-in host "Zabbix server".
func TestZabbixAPIToken(t *testing.T) {
	url := Need(t, "ZABBIX_API")
	raw, err := os.ReadFile(Need(t, "ZABBIX_TOKEN_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	if !zbxTokenRE.Match(raw) {
		t.Fatalf("token file holds %d bytes, want exactly 64 hex digits", len(raw))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// apiinfo.version refuses any auth in 6.0.
	var version string
	if err := zbxCall(ctx, url, "", "apiinfo.version", []any{}, &version); err != nil {
		Missing(t, "zabbix-api", err)
	}
	if !strings.HasPrefix(version, "6.0.") {
		t.Errorf("apiinfo.version = %q, want 6.0.x", version)
	}

	var hosts []struct {
		Host   string `json:"host"`
		Status string `json:"status"`
	}
	params := map[string]any{"output": []string{"host", "status"}, "filter": map[string]any{"host": "Zabbix server"}}
	if err := zbxCall(ctx, url, string(raw), "host.get", params, &hosts); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	// status 1: not monitored; otherwise the server polls an agent on port 10050.
	if len(hosts) != 1 || hosts[0].Status != "1" {
		t.Errorf(`host "Zabbix server" = %+v, want one host with status "1" (disabled)`, hosts)
	}

	if err := zbxCall(ctx, url, strings.Repeat("0", 64), "host.get", params, &hosts); err == nil {
		t.Error("a made-up token was accepted")
	}
}
