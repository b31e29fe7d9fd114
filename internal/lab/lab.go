// Package lab gives tests the endpoints of the project's lab (scripts/lab), read from the
// VCR_LAB_* environment variables that `scripts/lab env` prints.
//
// Integration tests call Need for every variable they use. Outside CI a missing lab
// skips the test, so `go test ./...` works on a laptop; under CI=true it fails the test,
// because a lab component that is missing or down must never pass as a skip.
package lab

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true), where nothing may be skipped.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need returns the value of the environment variable VCR_LAB_<name>. When it is unset the
// test fails under CI and is skipped elsewhere.
func Need(t testing.TB, name string) string {
	t.Helper()
	key := "VCR_LAB_" + name
	v := os.Getenv(key)
	if v != "" {
		return v
	}
	msg := key + " is not set: run `eval \"$(scripts/lab env)\"` after `scripts/lab up`"
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Missing fails (under CI) or skips the test because a lab component does not answer.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	if InCI() {
		t.Fatalf("lab component %s: %v", what, err)
	}
	t.Skipf("lab component %s: %v", what, err)
}

// Root returns the repository root (the folder holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository root")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Run runs a command with a deadline and returns its combined output; a failure fails
// the test with the command line and its output.
func Run(t testing.TB, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ReloadZabbixConfig makes the lab's Zabbix server see items created a moment ago: the
// trapper refuses values for items missing from its configuration cache, which
// otherwise reloads only every CacheUpdateFrequency.
func ReloadZabbixConfig(t testing.TB) {
	t.Helper()
	conf := Need(t, "ZABBIX_SERVER_CONF")
	Run(t, 30*time.Second, "zabbix_server", "-c", conf, "-R", "config_cache_reload")
	// The runtime command returns when the request is queued; the reload itself takes
	// tens of milliseconds more.
	time.Sleep(500 * time.Millisecond)
}

// Caller is the Zabbix API as the lab helpers need it (zabbix.API satisfies it; the lab
// package does not import zabbix, whose own tests use this package).
type Caller interface {
	Call(ctx context.Context, method string, params, result any) error
}

// Zabbix item value types (item.value_type).
const (
	ValueFloat    = 0
	ValueChar     = 1
	ValueUnsigned = 3
	ValueText     = 4
)

// TrapperHost creates a Zabbix host named prefix-<unique> in group "Discovered hosts",
// with a trapper item per key (key -> value type), deletes it when the test ends, and
// makes the server's configuration cache see it. It returns the host name and ID.
func TrapperHost(t testing.TB, api Caller, prefix string, items map[string]int) (name, hostid string) {
	t.Helper()
	ctx := context.Background()
	name = prefix + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	var groups []struct {
		GroupID string `json:"groupid"`
	}
	if err := api.Call(ctx, "hostgroup.get", map[string]any{"filter": map[string]any{"name": "Discovered hosts"}}, &groups); err != nil || len(groups) == 0 {
		t.Fatalf("hostgroup.get: %v %v", groups, err)
	}
	var created struct {
		HostIDs []string `json:"hostids"`
	}
	if err := api.Call(ctx, "host.create", map[string]any{"host": name, "groups": []any{map[string]any{"groupid": groups[0].GroupID}}}, &created); err != nil {
		t.Fatalf("host.create %s: %v", name, err)
	}
	hostid = created.HostIDs[0]
	t.Cleanup(func() { api.Call(context.Background(), "host.delete", []string{hostid}, nil) })
	var list []map[string]any
	for k, vt := range items {
		// type 2: Zabbix trapper; history kept a day, no trends: test data.
		it := map[string]any{"hostid": hostid, "name": k, "key_": k, "type": 2, "value_type": vt, "history": "1d"}
		if vt == ValueFloat || vt == ValueUnsigned {
			it["trends"] = "0"
		}
		list = append(list, it)
	}
	if len(list) > 0 {
		if err := api.Call(ctx, "item.create", list, nil); err != nil {
			t.Fatalf("item.create on %s: %v", name, err)
		}
	}
	ReloadZabbixConfig(t)
	return name, hostid
}

// SyncBuffer is a log destination that a test reads while goroutines write to it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// PcapPayloads returns the UDP payloads of a classic little-endian pcap file of Ethernet
// frames carrying IPv4/UDP, as tcpdump -i lo writes it (the real agent's traps in
// testdata are such a file).
func PcapPayloads(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 1 {
		t.Fatalf("%s: not a little-endian pcap of Ethernet frames", path)
	}
	var out [][]byte
	for off := 24; off+16 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		frame := b[off+16 : off+16+n]
		off += 16 + n
		ip := frame[14:]
		if binary.BigEndian.Uint16(frame[12:]) != 0x0800 || ip[9] != 17 {
			t.Fatalf("%s: a frame that is not IPv4/UDP", path)
		}
		udp := ip[int(ip[0]&0x0f)*4:]
		out = append(out, udp[8:binary.BigEndian.Uint16(udp[4:])])
	}
	return out
}

// WaitHTTP polls http://addr/ until it answers 200 or timeout passes: a lab domain or
// container serving again after a restart.
func WaitHTTP(addr string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET http://%s/: %w", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Until polls f every 100 ms until it returns nil, and fails the test with what and f's
// last error when d has passed.
func Until(t testing.TB, what string, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
