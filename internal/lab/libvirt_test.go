package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// These tests check the lab's libvirt component (scripts/lab.d/libvirt.sh): libvirtd's LXC
// domains, the lab's "primary VMs", each serving a page naming it on IP:SERVICE_PORT.
// Deadlines only bound the waiting, they never judge speed.

// lvDomain is one of the lab's primary domains, as `scripts/lab env` describes it.
type lvDomain struct {
	Name, IP, UUID string
}

// lvDomains returns the lab's domains and fails or skips the test when libvirtd does not
// answer.
func lvDomains(t *testing.T) (uri string, doms []lvDomain) {
	t.Helper()
	uri = Need(t, "LIBVIRT_URI")
	for _, name := range strings.Fields(Need(t, "DOMAINS")) {
		up := strings.ToUpper(name)
		doms = append(doms, lvDomain{Name: name, IP: Need(t, "DOMAIN_"+up+"_IP"), UUID: Need(t, "DOMAIN_"+up+"_UUID")})
	}
	if len(doms) == 0 {
		t.Fatal("VCR_LAB_DOMAINS names no domain")
	}
	if out, err := lvVirsh(uri, "version"); err != nil {
		Missing(t, "libvirtd", fmt.Errorf("virsh version: %v: %s", err, out))
	}
	return uri, doms
}

// lvVirsh runs virsh against the lab's libvirtd, for steps whose failure the caller
// handles (polling, cleanup).
func lvVirsh(uri string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "virsh", append([]string{"-q", "-c", uri}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// lvServes polls http://IP:PORT/ until the page contains want; it returns the last
// error when the deadline passes first.
func lvServes(addr, want string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case rerr != nil:
				err = rerr
			case resp.StatusCode != http.StatusOK:
				err = fmt.Errorf("status %s", resp.Status)
			case !strings.Contains(string(body), want):
				err = fmt.Errorf("page %q does not contain %q", body, want)
			default:
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET http://%s/: %w", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// lvEnsureRunning starts the domain if it is not running and waits until it serves.
func lvEnsureRunning(t *testing.T, uri string, d lvDomain, port string) {
	t.Helper()
	if st, _ := lvVirsh(uri, "domstate", d.Name); st != "running" {
		if out, err := lvVirsh(uri, "start", d.Name); err != nil && !strings.Contains(out, "already active") {
			t.Fatalf("virsh start %s: %v: %s", d.Name, err, out)
		}
	}
	if err := lvServes(net.JoinHostPort(d.IP, port), d.Name+" primary", 30*time.Second); err != nil {
		t.Fatalf("domain %s does not serve: %v", d.Name, err)
	}
}

func TestLibvirtDomainsServe(t *testing.T) {
	uri, doms := lvDomains(t)
	port := Need(t, "SERVICE_PORT")
	for _, d := range doms {
		t.Run(d.Name, func(t *testing.T) {
			if got, err := lvVirsh(uri, "domuuid", d.Name); err != nil || got != d.UUID {
				t.Errorf("virsh domuuid %s = %q (%v), want %s", d.Name, got, err, d.UUID)
			}
			// A test that stopped the domain restarts it in its cleanup: allow for that.
			if err := lvServes(net.JoinHostPort(d.IP, port), d.Name+" primary", 30*time.Second); err != nil {
				t.Error(err)
			}
		})
	}
}
