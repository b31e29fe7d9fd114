package trapd

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// router maps a trap to the inventory hypervisor that sent it: by the trap's source
// address (the host part of hypervisors[].address, resolved at start), else, for a
// source trapd does not know (a relay, NAT), by the guest UUID's service.
type router struct {
	inv    *config.Inventory
	byAddr map[netip.Addr][]*config.Hypervisor
}

func newRouter(ctx context.Context, inv *config.Inventory) (*router, error) {
	r := &router{inv: inv, byAddr: map[netip.Addr][]*config.Hypervisor{}}
	for i := range inv.Hypervisors {
		h := &inv.Hypervisors[i]
		host := h.Address.Host()
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			// The name is valid but does not work here now: the machine's
			// problem, not the inventory's.
			return nil, cli.Fail(cli.ExitRuntime, fmt.Errorf("hypervisor %s: resolve %s: %w", h.Name, host, err))
		}
		for _, a := range addrs {
			a = a.Unmap()
			r.byAddr[a] = append(r.byAddr[a], h)
		}
	}
	return r, nil
}

// route returns the hypervisor of a trap from src about guest uuid, and whether it was
// found by the source address.
func (r *router) route(src netip.Addr, uuid libvirtmib.UUID) (h *config.Hypervisor, bySource bool) {
	cands := r.byAddr[src.Unmap()]
	svc, hasSvc := r.inv.ServiceForVM(uuid)
	switch {
	case len(cands) == 1:
		return cands[0], true
	case len(cands) > 1:
		// Several hypervisors behind one address (agents on other ports): the
		// guest's service tells which, else the first.
		if hasSvc {
			for _, c := range cands {
				if c.Name == svc.Hypervisor {
					return c, true
				}
			}
		}
		return cands[0], true
	case hasSvc:
		if h, ok := r.inv.Hypervisor(svc.Hypervisor); ok {
			return h, false
		}
	}
	return nil, false
}

// host returns the hypervisor of a trap from src, for traps without a guest.
func (r *router) host(src netip.Addr) (*config.Hypervisor, bool) {
	cands := r.byAddr[src.Unmap()]
	if len(cands) == 0 {
		return nil, false
	}
	return cands[0], true
}
