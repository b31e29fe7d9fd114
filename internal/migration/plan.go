package migration

import (
	"context"
	"fmt"
)

// plan runs the read-only checks of a real move (maintenance, where the container is,
// what the target says, where the name points) and fills rep.Plan with the steps a
// real move would take. It changes nothing and takes no lock.
func (m *Move) plan(ctx context.Context, rep *Report) error {
	svc := m.Service
	name := svc.Standby.Container
	add := func(format string, args ...any) { rep.Plan = append(rep.Plan, fmt.Sprintf(format, args...)) }
	e, err := m.check(ctx, rep)
	for _, s := range rep.Steps {
		line := fmt.Sprintf("check %s: %s", s.Name, s.Detail)
		if s.Error != "" {
			line += " -> " + s.Error
		}
		add("%s", line)
	}
	if err != nil {
		return err
	}
	add("take the migration lock %s (wait up to %s)", "locks/"+svc.Name+".migrate.lock", m.LockWait)
	if len(e.mapped) > 0 {
		add("map networks on %s: %v", m.To, e.mapped)
	}
	add("copy %s from %s to %s without freezing it (stateless, allow-inconsistent)", name, e.from, m.To)
	lockLine := fmt.Sprintf("take the service's lock %s, the one vcr-recover takes (wait up to %s); recheck that the container and %s are as above, else refuse (exit 3) and remove the copy", "locks/"+svc.Name+".lock", m.LockWait, svc.DNSName)
	if !e.info.Running {
		add("%s", lockLine)
		add("(it is stopped: the copy is the move; no cut-over, DNS untouched)")
	} else {
		add("refresh the copy while it runs, up to %d times, until one takes less than %s", m.MaxRefreshes, m.DeltaTime)
		add("%s", lockLine)
		add("cut-over: %s the source, final refresh, start %s on %s", map[string]string{StopFreeze: "freeze", StopForce: "stop by force", StopGraceful: "stop gracefully (" + m.StopTimeout.String() + ", then force)"}[m.Stop], name, m.To)
		for _, h := range svc.Hooks {
			add("run hook %s in the target: %q (timeout %s)", h.Name, h.Command, h.Timeout)
		}
		add("wait for its IPv4 on %s, probe ports %v (deadline %s); any failure until here: the source runs again, the copy is removed", m.Iface, svc.Probe.Ports, svc.Probe.Timeout)
		if e.serving {
			add("switch %s from %s to the target's address with a TSIG compare-and-set and confirm it", svc.DNSName, e.srcAddr)
		} else {
			add("leave %s alone (the standby does not serve)", svc.DNSName)
		}
	}
	if m.KeepSource {
		add("stop %s on %s and keep it", name, e.from)
	} else {
		add("stop and delete %s on %s", name, e.from)
	}
	return nil
}
