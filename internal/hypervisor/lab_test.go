package hypervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

func labInventory(t *testing.T) *config.Inventory {
	t.Helper()
	inv, err := config.Load(lab.Need(t, "INVENTORY"))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestLabGuestState(t *testing.T) {
	inv := labInventory(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := Dial(ctx, &inv.Hypervisors[0])
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	svc, _ := inv.Service("web1")
	u := svc.VMUUID
	st, err := a.GuestState(u)
	if err != nil {
		lab.Missing(t, "snmp", err)
	}
	if st != libvirtmib.StateRunning {
		t.Fatalf("web1 state %v, want running", st)
	}
	unknown, _ := libvirtmib.ParseUUID("00000000-0000-4000-8000-000000000000")
	if _, err := a.GuestState(unknown); !errors.Is(err, ErrNoGuest) {
		t.Fatalf("unknown guest: err = %v, want ErrNoGuest", err)
	}
}

// TestLabWrongCommunity: snmpd ignores a request with a wrong community, so the answer
// is a timeout error after the configured retries, not a hang.
func TestLabWrongCommunity(t *testing.T) {
	inv := labInventory(t)
	h := inv.Hypervisors[0]
	h.CommunityFile = filepath.Join(t.TempDir(), "community")
	if err := os.WriteFile(h.CommunityFile, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.Timeout, h.Retries = 200*time.Millisecond, 0
	a, err := Dial(context.Background(), &h)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	u := inv.Services[0].VMUUID
	if _, err := a.GuestState(u); err == nil {
		t.Fatal("a wrong community got an answer")
	}
}
