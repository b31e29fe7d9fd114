package lab_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/lab/labzabbix"
	"github.com/vcrcovery/vcrcovery/internal/secret"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// Smoke tests of the lab's Zabbix component (scripts/lab.d/zabbix.sh) with the real
// zabbix_sender and zabbix_get, and the project's API client through labzabbix: they
// check the lab (its user, token, trapper, agent), not the client, which
// internal/zabbix's own tests cover.

// call runs one API method for a smoke test, failing the test when it fails.
func call(t *testing.T, a *zabbix.API, method string, params, result any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Call(ctx, method, params, result); err != nil {
		t.Fatal(err)
	}
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
	lab.Missing(t, name, exec.ErrNotFound)
	return ""
}

// TestZabbixTrapperStoresValue: a value sent with the real zabbix_sender to a trapper item
// created through the API ends up in the item's history.
func TestZabbixTrapperStoresValue(t *testing.T) {
	a := labzabbix.Session(t)
	trapper, conf := lab.Need(t, "ZABBIX_TRAPPER"), lab.Need(t, "ZABBIX_SERVER_CONF")
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
	call(t, a, "hostgroup.get", map[string]any{"output": []string{"groupid"}, "filter": map[string]any{"name": groupName}}, &groups)
	var groupID string
	if len(groups) > 0 {
		groupID = groups[0].GroupID
	} else {
		var created struct {
			GroupIDs []string `json:"groupids"`
		}
		call(t, a, "hostgroup.create", map[string]any{"name": groupName}, &created)
		groupID = created.GroupIDs[0]
	}
	t.Cleanup(func() { call(t, a, "hostgroup.delete", []string{groupID}, nil) })

	var hosts []struct {
		HostID string `json:"hostid"`
	}
	call(t, a, "host.get", map[string]any{"output": []string{"hostid"}, "filter": map[string]any{"host": hostName}}, &hosts)
	var hostID string
	if len(hosts) > 0 {
		hostID = hosts[0].HostID
	} else {
		var created struct {
			HostIDs []string `json:"hostids"`
		}
		call(t, a, "host.create", map[string]any{"host": hostName, "groups": []any{map[string]any{"groupid": groupID}}}, &created)
		hostID = created.HostIDs[0]
	}
	// Registered after the group's cleanup, so it runs first: a group with hosts cannot go.
	t.Cleanup(func() { call(t, a, "host.delete", []string{hostID}, nil) })

	var items struct {
		ItemIDs []string `json:"itemids"`
	}
	// type 2 = Zabbix trapper, value_type 4 = text.
	call(t, a, "item.create", map[string]any{"hostid": hostID, "name": "lab smoke " + key, "key_": key, "type": 2, "value_type": 4}, &items)
	itemID := items.ItemIDs[0]

	// The trapper knows only items in its configuration cache; make it reload now instead
	// of after CacheUpdateFrequency.
	lab.Run(t, 30*time.Second, zbxTool(t, "zabbix_server"), "-c", conf, "-R", "config_cache_reload")

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
		err := a.Call(ctx, "history.get", map[string]any{
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
	host, port, err := net.SplitHostPort(lab.Need(t, "ZABBIX_AGENT"))
	if err != nil {
		t.Fatalf("VCR_LAB_ZABBIX_AGENT: %v", err)
	}
	get := zbxTool(t, "zabbix_get")
	for _, tc := range []struct{ key, want string }{
		{"system.run[echo vcr-ok]", "vcr-ok"},
		{"system.run[id -u]", "0"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			got := strings.TrimSpace(lab.Run(t, 40*time.Second, get, "-s", host, "-p", port, "-k", tc.key))
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
	raw, err := os.ReadFile(lab.Need(t, "ZABBIX_TOKEN_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	if !zbxTokenRE.Match(raw) {
		t.Fatalf("token file holds %d bytes, want exactly 64 hex digits", len(raw))
	}
	a := labzabbix.API(t)
	if !strings.HasPrefix(a.Version(), "6.0.") {
		t.Errorf("apiinfo.version = %q, want 6.0.x", a.Version())
	}

	var hosts []struct {
		Host   string `json:"host"`
		Status string `json:"status"`
	}
	params := map[string]any{"output": []string{"host", "status"}, "filter": map[string]any{"host": "Zabbix server"}}
	call(t, a, "host.get", params, &hosts)
	// status 1: not monitored; otherwise the server polls an agent on port 10050.
	if len(hosts) != 1 || hosts[0].Status != "1" {
		t.Errorf(`host "Zabbix server" = %+v, want one host with status "1" (disabled)`, hosts)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	made, err := zabbix.NewAPI(ctx, zabbix.APIOptions{URL: lab.Need(t, "ZABBIX_API"), Token: secret.Secret(strings.Repeat("0", 64))})
	if err != nil {
		t.Fatal(err)
	}
	var apiErr *zabbix.APIError
	if err := made.Call(ctx, "host.get", params, &hosts); !errors.As(err, &apiErr) {
		t.Errorf("a made-up token: err = %v, want an API error", err)
	}
}
