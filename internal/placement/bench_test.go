package placement

import (
	"fmt"
	"testing"
)

// benchPool is the figure: 10,000 services, two replicas each, on 100 hosts of
// weight 1-3 (31,840 vnodes).
func benchPool() ([]Host, []Service) {
	hosts := make([]Host, 100)
	for i := range hosts {
		hosts[i] = Host{Name: fmt.Sprintf("host-%03d", i), Weight: 1 + i%3}
	}
	services := make([]Service, 10000)
	for i := range services {
		services[i] = Service{Name: fmt.Sprintf("svc-%05d", i), Replicas: 2}
		if i%10 == 0 {
			services[i].Pin = hosts[i%len(hosts)].Name
		}
	}
	return hosts, services
}

// BenchmarkPlan is what a pool host does on a membership change: build the ring and
// place every service.
func BenchmarkPlan(b *testing.B) {
	hosts, services := benchPool()
	for b.Loop() {
		mustRing(b, hosts).PlaceAll(services)
	}
}

// BenchmarkNew builds the ring of 100 hosts alone.
func BenchmarkNew(b *testing.B) {
	hosts, _ := benchPool()
	for b.Loop() {
		mustRing(b, hosts)
	}
}

// BenchmarkPlaceAll places 10,000 services on a ring already built.
func BenchmarkPlaceAll(b *testing.B) {
	hosts, services := benchPool()
	r := mustRing(b, hosts)
	for b.Loop() {
		r.PlaceAll(services)
	}
}

// BenchmarkFailurePlan is -plan's "what a failure of each host would do": the ring
// without each of the 100 hosts in turn, every service placed on it.
func BenchmarkFailurePlan(b *testing.B) {
	hosts, services := benchPool()
	r := mustRing(b, hosts)
	for b.Loop() {
		for _, h := range hosts {
			r.Without(h.Name).PlaceAll(services)
		}
	}
}
