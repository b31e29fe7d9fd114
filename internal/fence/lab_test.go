package fence

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/lab/labsnmp"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

func labChecker(t *testing.T) (*Checker, *config.Inventory) {
	t.Helper()
	inv, err := config.Load(lab.Need(t, "INVENTORY"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	api, err := zabbix.Login(ctx, inv.Zabbix)
	if err != nil {
		lab.Missing(t, "zabbix-api", err)
	}
	return &Checker{Inventory: inv, API: func() *zabbix.API { return api }}, inv
}

// TestLabServingPrimaryIsNeverDown: a running primary that answers on its port.
func TestLabServingPrimaryIsNeverDown(t *testing.T) {
	c, inv := labChecker(t)
	svc, _ := inv.Service("web1")
	v := c.Check(context.Background(), svc)
	ev := strings.Join(v.Evidence, "; ")
	if v.Down || !v.Serving || v.Maintenance {
		t.Fatalf("verdict %+v", v)
	}
	for _, want := range []string{"libvirt state over snmp: running", "primary port 10.77.1.11:8080 answers", "zabbix host web1:"} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence %q lacks %q", ev, want)
		}
	}
}

// TestLabDestroyedPrimaryIsDown: after `virsh destroy`, the agent's state (once its
// 5 s cache expires) and the silent port make the verdict Down.
func TestLabDestroyedPrimaryIsDown(t *testing.T) {
	c, inv := labChecker(t)
	svc, _ := inv.Service("web2")
	uri := lab.Need(t, "LIBVIRT_URI")
	lab.Run(t, time.Minute, "virsh", "-c", uri, "destroy", svc.Name)
	t.Cleanup(func() {
		exec.Command("virsh", "-c", uri, "start", svc.Name).Run()
		if err := lab.WaitHTTP(svc.PrimaryAddress.String()+":8080", 30*time.Second); err != nil {
			t.Errorf("%s does not serve again: %v", svc.Name, err)
		}
	})
	var v Verdict
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		v = c.Check(context.Background(), svc)
		if v.Serving {
			continue // the port may answer for a moment while the VM dies
		}
		if v.Down {
			break
		}
	}
	ev := strings.Join(v.Evidence, "; ")
	if !v.Down || v.Serving || !strings.Contains(ev, "libvirt state over snmp: shutoff") || !strings.Contains(ev, "silent") {
		t.Fatalf("verdict after destroy: %+v", v)
	}
}

// TestLabFenceOverV3: the SNMP evidence over SNMPv3 (authPriv, SHA and AES), from a
// test snmpd serving the same libvirt: web1 running, and a wrong privacy passphrase
// gives no libvirt evidence at all.
func TestLabFenceOverV3(t *testing.T) {
	c, inv := labChecker(t)
	a := lab.StartAgent(t, lab.AgentOptions{V3User: "vcrfence"})
	if err := labsnmp.UseV3(inv, a); err != nil {
		t.Fatal(err)
	}
	svc, _ := inv.Service("web1")
	v := c.Check(context.Background(), svc)
	if ev := strings.Join(v.Evidence, "; "); !strings.Contains(ev, "libvirt state over snmp: running") {
		t.Fatalf("evidence over v3 %q: want libvirt's running state", ev)
	}
	wrong := t.TempDir() + "/priv"
	if err := os.WriteFile(wrong, []byte("not-the-passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inv.Hypervisors[0].User.PrivPassphraseFile = wrong
	v = c.Check(context.Background(), svc)
	if ev := strings.Join(v.Evidence, "; "); strings.Contains(ev, "libvirt state over snmp: running") {
		t.Fatalf("evidence with a wrong privacy passphrase %q: the agent must not have answered", ev)
	}
}
