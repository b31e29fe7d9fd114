package fence

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// seq answers the n-th call with the n-th element, and the last one ever after: a
// source whose answer changes during the fence wait.
type seq[T any] struct {
	answers []T
	calls   int
}

func (s *seq[T]) next() T {
	a := s.answers[min(s.calls, len(s.answers)-1)]
	s.calls++
	return a
}

type stateAnswer struct {
	st  libvirtmib.GuestState
	ok  bool // for the Zabbix last state: a value exists
	err error
}

type fakeHypervisor struct{ seq[stateAnswer] }

func (f *fakeHypervisor) GuestState(ctx context.Context, svc *config.Service) (libvirtmib.GuestState, error) {
	a := f.next()
	return a.st, a.err
}

type fakeZabbix struct {
	last    seq[stateAnswer]
	host    zabbix.HostStatus
	hostErr error
}

func (f *fakeZabbix) LastState(ctx context.Context, svc *config.Service) (libvirtmib.GuestState, bool, error) {
	a := f.last.next()
	return a.st, a.ok, a.err
}

func (f *fakeZabbix) Host(ctx context.Context, svc *config.Service) (zabbix.HostStatus, error) {
	return f.host, f.hostErr
}

type fakePort struct{ seq[error] }

func (f *fakePort) Answers(ctx context.Context, svc *config.Service) (netip.AddrPort, error) {
	return netip.MustParseAddrPort("10.77.1.11:8080"), f.next()
}

var (
	errSNMP     = errors.New("request timeout (after 0 retries)")
	errSilent   = errors.New("dial tcp 10.77.1.11:8080: i/o timeout")
	running     = stateAnswer{st: libvirtmib.StateRunning}
	shutoff     = stateAnswer{st: libvirtmib.StateShutoff}
	noValue     = stateAnswer{}
	lastOff     = stateAnswer{st: libvirtmib.StateShutoff, ok: true}
	lastOn      = stateAnswer{st: libvirtmib.StateRunning, ok: true}
	reachable   = zabbix.HostStatus{Availability: zabbix.Reachable}
	unreach     = zabbix.HostStatus{Availability: zabbix.Unreachable}
	unknown     = zabbix.HostStatus{}
	inMaint     = zabbix.HostStatus{Availability: zabbix.Unreachable, Maintenance: true}
	fenceWait   = 6 * time.Second
	testService = &config.Service{Name: "web1", ZabbixHost: "web1", PrimaryAddress: netip.MustParseAddr("10.77.1.11"),
		Probe: config.Probe{Ports: []int{8080}}}
)

// TestVerdict is the verdict table: what each mix of evidence decides, and how long
// (on the fake clock) and how often fencing asks before it does.
func TestVerdict(t *testing.T) {
	tests := []struct {
		name   string
		hyp    []stateAnswer
		last   []stateAnswer // nil: no Zabbix API (login under way)
		host   zabbix.HostStatus
		port   []error // nil answers
		want   Verdict
		checks int
		waited time.Duration
	}{
		{name: "maintenance", hyp: []stateAnswer{shutoff}, last: []stateAnswer{lastOff}, host: inMaint, port: []error{errSilent},
			want: Verdict{Down: true, Maintenance: true, Evidence: []string{
				"libvirt state over snmp: shutoff", "primary port 10.77.1.11:8080 silent (i/o timeout)",
				"last state in zabbix: shutoff", "zabbix host web1: unreachable, in maintenance"}},
			checks: 1},
		{name: "host unreachable with a silent port", hyp: []stateAnswer{{err: errSNMP}}, last: []stateAnswer{noValue}, host: unreach, port: []error{errSilent},
			want: Verdict{Down: true, Evidence: []string{
				"libvirt state over snmp: request timeout (after 0 retries)", "primary port 10.77.1.11:8080 silent (i/o timeout)",
				"last state in zabbix: none", "zabbix host web1: unreachable"}},
			checks: 1},
		{name: "snmp error, zabbix last state shutoff", hyp: []stateAnswer{{err: errSNMP}}, last: []stateAnswer{lastOff}, host: unknown, port: []error{errSilent},
			want: Verdict{Down: true, Evidence: []string{
				"libvirt state over snmp: request timeout (after 0 retries)", "primary port 10.77.1.11:8080 silent (i/o timeout)",
				"last state in zabbix: shutoff", "zabbix host web1: availability unknown"}},
			checks: 1},
		{name: "snmp error and nothing else: not down after the wait", hyp: []stateAnswer{{err: errSNMP}}, last: []stateAnswer{lastOn}, host: reachable, port: []error{errSilent},
			want: Verdict{Evidence: []string{
				"libvirt state over snmp: request timeout (after 0 retries)", "primary port 10.77.1.11:8080 silent (i/o timeout)",
				"last state in zabbix: running", "zabbix host web1: reachable"}},
			checks: 61, waited: fenceWait},
		{name: "state shutoff but the port answers: never down", hyp: []stateAnswer{shutoff}, last: []stateAnswer{lastOff}, host: unreach, port: []error{nil},
			want: Verdict{Serving: true, Evidence: []string{
				"libvirt state over snmp: shutoff", "primary port 10.77.1.11:8080 answers",
				"last state in zabbix: shutoff", "zabbix host web1: unreachable"}},
			checks: 1},
		{name: "no evidence until the wait ends", hyp: []stateAnswer{running}, last: []stateAnswer{noValue}, host: unknown, port: []error{errSilent},
			want: Verdict{Evidence: []string{
				"libvirt state over snmp: running", "primary port 10.77.1.11:8080 silent (i/o timeout)",
				"last state in zabbix: none", "zabbix host web1: availability unknown"}},
			checks: 61, waited: fenceWait},
		{name: "evidence arriving during the wait", hyp: []stateAnswer{running, running, running, shutoff}, last: []stateAnswer{noValue}, host: unknown, port: []error{errSilent},
			want: Verdict{Down: true, Evidence: []string{
				"libvirt state over snmp: shutoff", "primary port 10.77.1.11:8080 silent (i/o timeout)",
				"last state in zabbix: none", "zabbix host web1: availability unknown"}},
			checks: 4, waited: 300 * time.Millisecond},
		{name: "zabbix evidence arriving during the wait", hyp: []stateAnswer{running}, last: []stateAnswer{noValue, noValue, lastOff}, host: unknown, port: []error{errSilent},
			want: Verdict{Down: true, Evidence: []string{
				"libvirt state over snmp: running", "primary port 10.77.1.11:8080 silent (i/o timeout)",
				"last state in zabbix: shutoff", "zabbix host web1: availability unknown"}},
			checks: 3, waited: 200 * time.Millisecond},
		{name: "port answers during the wait", hyp: []stateAnswer{running}, last: []stateAnswer{noValue}, host: unknown, port: []error{errSilent, nil},
			want: Verdict{Serving: true, Evidence: []string{
				"libvirt state over snmp: running", "primary port 10.77.1.11:8080 answers",
				"last state in zabbix: none", "zabbix host web1: availability unknown"}},
			checks: 2, waited: 100 * time.Millisecond},
		{name: "no zabbix API: snmp and port only", hyp: []stateAnswer{shutoff}, port: []error{errSilent},
			want:   Verdict{Down: true, Evidence: []string{"libvirt state over snmp: shutoff", "primary port 10.77.1.11:8080 silent (i/o timeout)"}},
			checks: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hyp := &fakeHypervisor{seq[stateAnswer]{answers: tt.hyp}}
			c := &Checker{Hypervisor: hyp, Port: &fakePort{seq[error]{answers: tt.port}}}
			if tt.last != nil {
				c.Zabbix = &fakeZabbix{last: seq[stateAnswer]{answers: tt.last}, host: tt.host}
			}
			start := time.Unix(1795318949, 0)
			clock := &StepClock{T: start}
			got, err := Await(context.Background(), c, testService, fenceWait, clock)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			if hyp.calls != tt.checks || clock.T.Sub(start) != tt.waited {
				t.Errorf("asked %d times over %s; want %d over %s", hyp.calls, clock.T.Sub(start), tt.checks, tt.waited)
			}
		})
	}
}

// TestAwaitEndsWithContext: a cancelled run stops waiting with ctx's error.
func TestAwaitEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := &Checker{Hypervisor: &fakeHypervisor{seq[stateAnswer]{answers: []stateAnswer{running}}}, Port: &fakePort{seq[error]{answers: []error{errSilent}}}}
	// A clock whose After never fires: only ctx can end the wait.
	_, err := Await(ctx, c, testService, fenceWait, stuckClock{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

type stuckClock struct{}

func (stuckClock) Now() time.Time                       { return time.Unix(0, 0) }
func (stuckClock) After(time.Duration) <-chan time.Time { return nil }
