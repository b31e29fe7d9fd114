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
	age time.Duration // for the Zabbix last state: how long before the check it was sent
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
	now     func() time.Time
}

func (f *fakeZabbix) LastState(ctx context.Context, svc *config.Service) (libvirtmib.GuestState, time.Time, bool, error) {
	a := f.last.next()
	return a.st, f.now().Add(-a.age), a.ok, a.err
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
	lastOff     = stateAnswer{st: libvirtmib.StateShutoff, ok: true, age: time.Second} // trapd's, fresher than the agent's cache
	lastOn      = stateAnswer{st: libvirtmib.StateRunning, ok: true, age: time.Second}
	oldOff      = stateAnswer{st: libvirtmib.StateShutoff, ok: true, age: time.Minute}
	oldOn       = stateAnswer{st: libvirtmib.StateRunning, ok: true, age: time.Minute}
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
		// served: the primary's last failback, this long before the check began (0: none)
		served time.Duration
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
		{name: "a newer running (trapd saw the start) beats the agent's cached shutoff", hyp: []stateAnswer{shutoff}, last: []stateAnswer{lastOn}, host: unknown, port: []error{errSilent},
			want: Verdict{Evidence: []string{
				"libvirt state over snmp: shutoff", "primary port 10.77.1.11:8080 silent (i/o timeout)",
				"last state in zabbix: running", "zabbix host web1: availability unknown"}},
			checks: 61, waited: fenceWait},
		{name: "the agent's running beats an older shutoff in zabbix", hyp: []stateAnswer{running}, last: []stateAnswer{oldOff}, host: unknown, port: []error{errSilent},
			want: Verdict{Evidence: []string{
				"libvirt state over snmp: running", "primary port 10.77.1.11:8080 silent (i/o timeout)",
				"last state in zabbix: shutoff", "zabbix host web1: availability unknown"}},
			checks: 61, waited: fenceWait},
		{name: "the agent's shutoff beats an older running in zabbix", hyp: []stateAnswer{shutoff}, last: []stateAnswer{oldOn}, host: unknown, port: []error{errSilent},
			want: Verdict{Down: true, Evidence: []string{
				"libvirt state over snmp: shutoff", "primary port 10.77.1.11:8080 silent (i/o timeout)",
				"last state in zabbix: running", "zabbix host web1: availability unknown"}},
			checks: 1},
		// The agent's cache still says shutoff for a while, then running: at no check is
		// there evidence from after the failback that the primary is down.
		{name: "booting after a failback: the failure's evidence is out of date", hyp: []stateAnswer{shutoff, shutoff, shutoff, running}, last: []stateAnswer{oldOff}, host: unreach, port: []error{errSilent},
			served: 2 * time.Second,
			want: Verdict{Evidence: []string{
				"libvirt state over snmp: running", "primary port 10.77.1.11:8080 silent (i/o timeout)",
				"last state in zabbix: shutoff (older than the failback at 2026-11-22T09:02:27Z: ignored)",
				"zabbix host web1: unreachable (since before the failback at 2026-11-22T09:02:27Z: ignored)"}},
			checks: 61, waited: fenceWait},
		{name: "booting after a failback, then the port answers", hyp: []stateAnswer{shutoff}, last: []stateAnswer{oldOff}, host: unknown, port: []error{errSilent, errSilent, nil},
			served: 2 * time.Second,
			want: Verdict{Serving: true, Evidence: []string{
				"libvirt state over snmp: shutoff (older than the failback at 2026-11-22T09:02:27Z: ignored)", "primary port 10.77.1.11:8080 answers",
				"last state in zabbix: shutoff (older than the failback at 2026-11-22T09:02:27Z: ignored)", "zabbix host web1: availability unknown"}},
			checks: 3, waited: 200 * time.Millisecond},
		{name: "a new failure after the failback counts", hyp: []stateAnswer{running}, last: []stateAnswer{lastOff}, host: unknown, port: []error{errSilent},
			served: 2 * time.Second,
			want: Verdict{Down: true, Evidence: []string{
				"libvirt state over snmp: running (older than the failback at 2026-11-22T09:02:27Z: ignored)", "primary port 10.77.1.11:8080 silent (i/o timeout)",
				"last state in zabbix: shutoff", "zabbix host web1: availability unknown"}},
			checks: 1},
		{name: "unreachable long after the failback counts", hyp: []stateAnswer{running}, last: []stateAnswer{oldOn}, host: unreach, port: []error{errSilent},
			served: time.Hour,
			want: Verdict{Down: true, Evidence: []string{
				"libvirt state over snmp: running", "primary port 10.77.1.11:8080 silent (i/o timeout)",
				"last state in zabbix: running", "zabbix host web1: unreachable"}},
			checks: 1},
		{name: "no zabbix API: snmp and port only", hyp: []stateAnswer{shutoff}, port: []error{errSilent},
			want:   Verdict{Down: true, Evidence: []string{"libvirt state over snmp: shutoff", "primary port 10.77.1.11:8080 silent (i/o timeout)"}},
			checks: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Unix(1795338149, 0) // 2026-11-22T09:02:29Z
			clock := &StepClock{T: start}
			hyp := &fakeHypervisor{seq[stateAnswer]{answers: tt.hyp}}
			c := &Checker{Hypervisor: hyp, Port: &fakePort{seq[error]{answers: tt.port}}, Now: clock.Now}
			if tt.last != nil {
				c.Zabbix = &fakeZabbix{last: seq[stateAnswer]{answers: tt.last}, host: tt.host, now: clock.Now}
			}
			if tt.served > 0 {
				at := start.Add(-tt.served)
				c.LastServed = func(*config.Service) time.Time { return at }
			}
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
