package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// These tests check the lab's LXD component (scripts/lab.d/lxd.sh) through the real
// lxc CLI: the standby daemon is the CLI's "local:" remote (LXD_DIR), the big daemon is
// its "big:" remote (LXD_CONF). They use generous deadlines only to stop waiting,
// never to judge speed.

// lxdStandby points the lxc CLI at the standby daemon and the lab's client config, and
// fails or skips the test (see Missing) when the daemon does not answer.
func lxdStandby(t *testing.T) {
	t.Helper()
	dir := Need(t, "LXD_STANDBY_DIR")
	conf := Need(t, "LXD_CONF")
	t.Setenv("LXD_DIR", dir)
	t.Setenv("LXD_CONF", conf)
	if out, err := lxdCLI(10*time.Second, "info"); err != nil {
		Missing(t, "lxd-standby", fmt.Errorf("lxc info: %v: %s", err, out))
	}
}

// lxdCLI runs the lxc CLI and returns its combined output, for steps whose failure the
// caller handles (polling, cleanup). Steps that must succeed use Run.
func lxdCLI(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "lxc", args...).CombinedOutput()
	return string(out), err
}

// lxdUniqueName returns a container name no other test run uses (LXD names are host names).
func lxdUniqueName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

// lxdDeleteOnCleanup removes the container (running or not) when the test ends.
func lxdDeleteOnCleanup(t *testing.T, name string) {
	t.Helper()
	t.Cleanup(func() {
		if out, err := lxdCLI(60*time.Second, "delete", "--force", name); err != nil {
			t.Errorf("lxc delete --force %s: %v: %s", name, err, out)
		}
	})
}

// lxdIPv4 waits until the instance has an IPv4 address on eth0 (from LXD's
// dnsmasq, through the image's udhcpc) and returns it. name may carry a remote prefix.
func lxdIPv4(t *testing.T, name string, timeout time.Duration) string {
	t.Helper()
	remote, inst := "", name
	if i := strings.Index(name, ":"); i >= 0 {
		remote, inst = name[:i+1], name[i+1:]
	}
	var last string
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		out, err := lxdCLI(10*time.Second, "query", remote+"/1.0/instances/"+inst+"/state")
		if err != nil {
			last = fmt.Sprintf("lxc query: %v: %s", err, out)
		} else {
			var st struct {
				Network map[string]struct {
					Addresses []struct {
						Family  string `json:"family"`
						Address string `json:"address"`
					} `json:"addresses"`
				} `json:"network"`
			}
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatalf("decode state of %s: %v\n%s", name, err, out)
			}
			for _, a := range st.Network["eth0"].Addresses {
				if a.Family == "inet" && net.ParseIP(a.Address) != nil {
					return a.Address
				}
			}
			last = "no IPv4 address on eth0 yet"
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s got no IPv4 address within %v: %s", name, timeout, last)
	return ""
}

// lxdGetUntil polls url until the body contains want.
func lxdGetUntil(t *testing.T, url, want string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err != nil {
			last = err.Error()
		} else {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case err != nil:
				last = err.Error()
			case resp.StatusCode == http.StatusOK && strings.Contains(string(body), want):
				return
			default:
				last = fmt.Sprintf("%s: %q", resp.Status, body)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: no body with %q within %v; last: %s", url, want, timeout, last)
}

// TestLXDContainerServes launches a container from the lab's busybox image on the standby
// daemon and fetches its web page from this process over the standby bridge.
func TestLXDContainerServes(t *testing.T) {
	lxdStandby(t)
	image := Need(t, "LXD_IMAGE")
	port := Need(t, "LXD_IMAGE_PORT")
	name := lxdUniqueName(t, "vcrt-serve")

	lxdDeleteOnCleanup(t, name)
	Run(t, 120*time.Second, "lxc", "launch", image, name, "--quiet")
	ip := lxdIPv4(t, name, 60*time.Second)
	// The image's rcS writes "vcrcovery-lab busybox <hostname>" to /www/index.html.
	lxdGetUntil(t, "http://"+net.JoinHostPort(ip, port)+"/", "vcrcovery-lab busybox "+name, 30*time.Second)
}

// TestLXDBigRemote copies a stopped container from the standby daemon to the big one
// with `lxc copy NAME big:NAME` (the standby daemon listens on the network, as LXD's
// default pull mode needs) and checks the copy runs and serves on big's bridge.
func TestLXDBigRemote(t *testing.T) {
	lxdStandby(t)
	image := Need(t, "LXD_IMAGE")
	port := Need(t, "LXD_IMAGE_PORT")
	Need(t, "LXD_BIG_URL")
	name := lxdUniqueName(t, "vcrt-copy")

	if out, err := lxdCLI(10*time.Second, "info", "big:"); err != nil {
		Missing(t, "lxd-big", fmt.Errorf("lxc info big: %v: %s", err, out))
	}
	Run(t, 30*time.Second, "lxc", "list", "big:", "--format", "json")

	lxdDeleteOnCleanup(t, name)
	Run(t, 120*time.Second, "lxc", "init", image, name, "--quiet")
	lxdDeleteOnCleanup(t, "big:"+name)
	Run(t, 120*time.Second, "lxc", "copy", name, "big:"+name, "--quiet")

	var list []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	}
	out := Run(t, 30*time.Second, "lxc", "list", "big:"+name, "--format", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("decode lxc list big:%s: %v\n%s", name, err, out)
	}
	if len(list) != 1 || list[0].Name != name || list[0].Status != "Stopped" {
		t.Fatalf("lxc list big:%s = %+v, want one stopped %s", name, list, name)
	}

	// The copy takes big's default profile, so eth0 lands on big's bridge.
	Run(t, 60*time.Second, "lxc", "start", "big:"+name)
	ip := lxdIPv4(t, "big:"+name, 60*time.Second)
	lxdGetUntil(t, "http://"+net.JoinHostPort(ip, port)+"/", "vcrcovery-lab busybox "+name, 30*time.Second)
}

// TestLXDSpareCopiesBothWays: the third daemon ("spare", the pool's third host) takes a
// copy from standby and gives one to big, server to server, as the pool's replication
// does between any two pool hosts.
func TestLXDSpareCopiesBothWays(t *testing.T) {
	lxdStandby(t)
	image := Need(t, "LXD_IMAGE")
	port := Need(t, "LXD_IMAGE_PORT")
	Need(t, "LXD_SPARE_URL")
	if out, err := lxdCLI(10*time.Second, "info", "spare:"); err != nil {
		Missing(t, "lxd-spare", fmt.Errorf("lxc info spare: %v: %s", err, out))
	}
	name := lxdUniqueName(t, "vcrt-spare")
	lxdDeleteOnCleanup(t, name)
	Run(t, 120*time.Second, "lxc", "init", image, name, "--quiet")
	lxdDeleteOnCleanup(t, "spare:"+name)
	Run(t, 120*time.Second, "lxc", "copy", name, "spare:"+name, "--quiet")
	lxdDeleteOnCleanup(t, "big:"+name)
	Run(t, 120*time.Second, "lxc", "copy", "spare:"+name, "big:"+name, "--quiet")
	for _, remote := range []string{"spare:", "big:"} {
		Run(t, 60*time.Second, "lxc", "start", remote+name)
		ip := lxdIPv4(t, remote+name, 60*time.Second)
		lxdGetUntil(t, "http://"+net.JoinHostPort(ip, port)+"/", "vcrcovery-lab busybox "+name, 30*time.Second)
	}
}

// TestLXDDaemonStopStart: `scripts/lab lxd-daemon stop spare` is a pool host dying: its
// running container stops serving and its API goes away; `start` brings the host back
// with the container kept, stopped, and it serves again once started.
func TestLXDDaemonStopStart(t *testing.T) {
	lxdStandby(t)
	image := Need(t, "LXD_IMAGE")
	port := Need(t, "LXD_IMAGE_PORT")
	Need(t, "LXD_SPARE_URL")
	root := Root(t)
	name := lxdUniqueName(t, "vcrt-die")
	lxdDeleteOnCleanup(t, "spare:"+name)
	Run(t, 120*time.Second, "lxc", "launch", image, "spare:"+name, "--quiet")
	ip := lxdIPv4(t, "spare:"+name, 60*time.Second)
	addr := net.JoinHostPort(ip, port)
	lxdGetUntil(t, "http://"+addr+"/", name, 30*time.Second)

	started := false
	start := func() {
		if !started {
			started = true
			Run(t, 120*time.Second, root+"/scripts/lab", "lxd-daemon", "start", "spare")
		}
	}
	// Registered after lxdDeleteOnCleanup, so it runs first: the delete needs the daemon.
	t.Cleanup(start)
	Run(t, 120*time.Second, root+"/scripts/lab", "lxd-daemon", "stop", "spare")
	if out, err := lxdCLI(10*time.Second, "info", "spare:"); err == nil {
		t.Fatalf("lxc info spare: answered after lxd-daemon stop:\n%s", out)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after its host died", addr)
	}
	start()
	out := Run(t, 30*time.Second, "lxc", "list", "spare:"+name, "--format", "csv", "-c", "ns")
	if want := name + ",STOPPED"; strings.TrimSpace(out) != want {
		t.Fatalf("after lxd-daemon start: lxc list = %q, want %q", out, want)
	}
	Run(t, 60*time.Second, "lxc", "start", "spare:"+name)
	ip = lxdIPv4(t, "spare:"+name, 60*time.Second)
	lxdGetUntil(t, "http://"+net.JoinHostPort(ip, port)+"/", name, 30*time.Second)
}
