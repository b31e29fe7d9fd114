package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/datasync"
	"github.com/vcrcovery/vcrcovery/internal/lab"
)

// kvCGI is the lab's stateful service: a value a client reads (GET /kv.data) and
// changes (POST /cgi-bin/kv), served by the busybox httpd of web1's primary and of its
// container. While /www/readonly exists (the quiesce hook) writes are refused.
const kvCGI = `#!/bin/sh
d=/www/kv.data
if [ "$REQUEST_METHOD" = POST ]; then
  if [ -e /www/readonly ]; then printf 'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nread-only\n'; exit 0; fi
  head -c "$CONTENT_LENGTH" >$d.tmp && mv $d.tmp $d
fi
printf 'Content-Type: text/plain\r\n\r\n'
cat $d 2>/dev/null
`

// primaryPort is where the container reaches web1's primary: an LXD proxy device on
// the container (the lab host does not route between its bridges; a real standby VM's
// container reaches its primary over the network).
const primaryPort = "18080"

func kvGet(ip string) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + ip + ":8080/kv.data")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

func kvPut(ip, v string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Post("http://"+ip+":8080/cgi-bin/kv", "text/plain", strings.NewReader(v))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST: %s", resp.Status)
	}
	return nil
}

// TestLabStatefulFailback: the container is kept in sync from the primary; after a
// failover a client writes to the container; the repaired primary never overwrites it
// (-sync refuses); a failback whose reverse sync fails leaves the name and the write on
// the container (exit 9); the rerun pushes the write to the primary before the name
// goes back, and the sync resumes.
func TestLabStatefulFailback(t *testing.T) {
	e := labEnv(t)
	svc, _ := e.inv.Service("web1")
	root := lab.Need(t, "DOMAIN_WEB1_ROOTFS")
	// The primary's data and CGI, in the domain's root folder.
	if err := os.MkdirAll(filepath.Join(root, "www/cgi-bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"www/cgi-bin/kv": kvCGI, "www/kv.data": "v1\n"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		os.RemoveAll(filepath.Join(root, "www/cgi-bin"))
		os.Remove(filepath.Join(root, "www/kv.data"))
	})
	// The container's: the same CGI, no data yet.
	in := func(script string, args ...string) string {
		out, err := lxc(t, append([]string{"exec", "web1", "--", "sh", "-c", script, "sh"}, args...)...)
		if err != nil {
			t.Fatalf("in web1: %s: %v\n%s", script, err, out)
		}
		return out
	}
	in(`mkdir -p /www/cgi-bin && printf %s "$1" >/www/cgi-bin/kv && chmod 755 /www/cgi-bin/kv && rm -f /www/kv.data /www/readonly`, kvCGI)
	t.Cleanup(func() { lxc(t, "exec", "web1", "--", "rm", "-rf", "/www/cgi-bin", "/www/kv.data", "/www/readonly") })
	if out, err := lxc(t, "config", "device", "add", "web1", "vcrtest-primary", "proxy",
		"listen=tcp:127.0.0.1:"+primaryPort, "connect=tcp:"+svc.PrimaryAddress.String()+":8080", "bind=instance"); err != nil {
		t.Fatalf("proxy device: %v\n%s", err, out)
	}
	t.Cleanup(func() { lxc(t, "config", "device", "remove", "web1", "vcrtest-primary") })

	pri := "http://127.0.0.1:" + primaryPort
	inventory := func(reversePort string) string {
		return e.variant(t, func(t *testing.T, m map[string]any) {
			s := m["services"].([]any)[0].(map[string]any)
			s["sync"] = map[string]any{"period": "1h", "timeout": "10s",
				"command": []string{"sh", "-c", "wget -O /www/kv.data.new " + pri + "/kv.data 2>/dev/null && mv /www/kv.data.new /www/kv.data"}}
			s["hooks"] = []any{map[string]any{"name": "writable", "command": []string{"rm", "-f", "/www/readonly"}}}
			s["failback"] = map[string]any{
				"quiesce": map[string]any{"command": []string{"touch", "/www/readonly"}},
				"reverse_sync": map[string]any{"timeout": "10s", "command": []string{"sh", "-c",
					"wget -O /dev/null --post-file /www/kv.data http://127.0.0.1:" + reversePort + "/cgi-bin/kv 2>&1"}},
				"verify": map[string]any{"command": []string{"sh", "-c",
					`[ "$(wget -O- ` + pri + `/kv.data 2>/dev/null)" = "$(cat /www/kv.data)" ]`}},
			}
		})
	}
	good, broken := inventory(primaryPort), inventory("18081")
	e.invPath = good

	// 1. The standby is synced from the primary.
	code, outs, stderr := syncRun(t, good, "-service", "web1", "-force")
	if code != 0 || outs[0].Result != datasync.ResultOK {
		t.Fatalf("first sync: exit %d %+v\n%s", code, outs, stderr)
	}
	if got := in("cat /www/kv.data"); strings.TrimSpace(got) != "v1" {
		t.Fatalf("container after sync: %q, want v1", got)
	}
	syncSeconds := outs[0].Seconds
	// The RPO a failover now would have, as -sync reports it (vcr.sync.age).
	_, outs, _ = syncRun(t, good, "-service", "web1")
	if outs[0].Age == nil {
		t.Fatalf("no age after a sync: %+v", outs)
	}
	t.Logf("RPO figure: sync command %.3f s; age at failover %.3f s; worst case period + %.3f s", syncSeconds, *outs[0].Age, syncSeconds)
	// 2. Failover; a client writes to the service, now the container.
	e.destroy(t, svc)
	rep, stderr := e.recover(t, "-service", svc.Name)
	if rep.ExitCode != 0 {
		t.Fatalf("recover: %+v\n%s", rep, stderr)
	}
	ip := e.checkServedByContainer(t, svc)
	if err := kvPut(ip.String(), "v2"); err != nil {
		t.Fatalf("write to the container: %v", err)
	}
	// 3. The primary comes back with its old data; no sync may overwrite the write.
	e.virsh(t, "start", svc.Name)
	lab.Until(t, "primary serves", 30*time.Second, func() error { _, err := kvGet(svc.PrimaryAddress.String()); return err })
	if code, outs, _ := syncRun(t, good, "-service", "web1", "-force"); code != 0 || outs[0].Result != datasync.ResultRefused {
		t.Fatalf("-sync towards the recovered container: exit %d %+v", code, outs)
	}
	if got, _ := kvGet(ip.String()); got != "v2" {
		t.Fatalf("container's value %q after -sync, want v2", got)
	}
	// 4. A failback whose reverse sync fails: exit 9, name and write on the container.
	e.invPath = broken
	rep, _ = e.recover(t, "-service", svc.Name, "-failback")
	if rep.ExitCode != cli.ExitData || !strings.Contains(rep.Message, "reverse-sync") {
		t.Fatalf("broken reverse sync: %+v", rep)
	}
	if got := e.lookup(t, svc.DNSName); len(got) != 1 || got[0] != ip {
		t.Fatalf("%s -> %v after the failed failback, want %s", svc.DNSName, got, ip)
	}
	if got, _ := kvGet(ip.String()); got != "v2" {
		t.Fatalf("container's value %q after the failed failback, want v2", got)
	}
	if got, _ := kvGet(svc.PrimaryAddress.String()); got != "v1" {
		t.Fatalf("primary's value %q after the failed failback, want still v1", got)
	}
	// 5. The rerun pushes v2 to the primary, then switches back; syncs resume.
	e.invPath = good
	rep, stderr = e.recover(t, "-service", svc.Name, "-failback")
	if rep.ExitCode != 0 {
		t.Fatalf("failback: %+v\n%s", rep, stderr)
	}
	if got := e.lookup(t, svc.DNSName); len(got) != 1 || got[0] != svc.PrimaryAddress {
		t.Fatalf("%s -> %v after failback", svc.DNSName, got)
	}
	if got, _ := kvGet(svc.PrimaryAddress.String()); got != "v2" {
		t.Fatalf("primary's value %q after failback, want the container's write v2", got)
	}
	if code, outs, _ := syncRun(t, good, "-service", "web1", "-force"); code != 0 || outs[0].Result != datasync.ResultOK {
		t.Fatalf("-sync after failback: exit %d %+v", code, outs)
	}
	var data float64
	for _, s := range rep.Steps {
		if s.Name == "quiesce" || s.Name == "reverse-sync" || s.Name == "verify" {
			data += s.Seconds
		}
	}
	t.Logf("failback: %.3f s in all, %.3f s of it quiesce + reverse sync + verify", rep.Seconds, data)
}
