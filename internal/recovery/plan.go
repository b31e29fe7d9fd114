package recovery

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
)

// plan fills rep.Plan with what a real run would do, from read-only looks at DNS, the
// container and the fencing evidence. It changes nothing.
func (r *Run) plan(ctx context.Context, rep *Report) error {
	svc := r.Service
	add := func(format string, args ...any) { rep.Plan = append(rep.Plan, fmt.Sprintf(format, args...)) }
	current, err := r.DNS.Lookup(ctx, svc.DNSName)
	if err != nil {
		current = nil
		add("check where %s points (now: lookup failed: %v)", svc.DNSName, err)
	} else {
		add("check where %s points (now: %v)", svc.DNSName, current)
	}
	running, rerr := r.Containers.Running(ctx, svc.Standby.Container)
	now := fmt.Sprintf("running=%v", running)
	if rerr != nil {
		now = "unknown: " + rerr.Error()
	}
	missing := r.awaitEvidence(ctx)
	v := r.Fence.Check(ctx, svc)
	if missing != "" {
		v.Evidence = append(v.Evidence, missing)
	}
	if r.Failback {
		add("check that the primary %s serves on ports %v (now: %s)", svc.PrimaryAddress, svc.Probe.Ports, strings.Join(v.Evidence, "; "))
		for _, h := range svc.Failback.Steps() {
			add("run failback step %s in the container: %q (timeout %s); on failure stop here, the name stays on the container (exit 9)", h.Name, h.Command, h.Timeout)
		}
		add("switch %s back to %s with a TSIG compare-and-set against the container's address", svc.DNSName, svc.PrimaryAddress)
		add("let syncs run towards the container again (state_dir/direction/%s.json)", svc.Name)
		if svc.Standby.Mode == config.ModeCold {
			add("stop container %s on %s (cold standby; %s)", svc.Standby.Container, r.standby(), now)
		} else {
			add("keep container %s on %s running (warm standby)", svc.Standby.Container, r.standby())
		}
		return nil
	}
	verdict := "down"
	switch {
	case r.Force:
		verdict = "skipped (-force)"
	case v.Maintenance:
		verdict = "would refuse: maintenance"
	case v.Serving:
		verdict = "would refuse: the primary serves"
	case !v.Down:
		verdict = "would refuse: not confirmed down"
	}
	add("fence %s (%s): %s", svc.ZabbixHost, strings.Join(v.Evidence, "; "), verdict)
	switch {
	case svc.Standby.Backup.Kind != config.BackupNone:
		add("ensure container %s on %s runs, creating it from %s %s if missing (now: %s)", svc.Standby.Container, r.standby(), svc.Standby.Backup.Kind, svc.Standby.Backup.Source, now)
	default:
		add("ensure container %s on %s runs (%s standby; now: %s)", svc.Standby.Container, r.standby(), svc.Standby.Mode, now)
	}
	for _, h := range svc.Hooks {
		add("run hook %s in the container: %q (timeout %s)", h.Name, h.Command, h.Timeout)
	}
	add("wait for the container's IPv4 on %s, probe ports %v (deadline %s)", r.Iface, svc.Probe.Ports, svc.Probe.Timeout)
	add("mark %s recovered: no sync towards the container until -failback (state_dir/direction/%s.json)", svc.Name, svc.Name)
	add("switch %s from %s to the container's address with a TSIG compare-and-set, TTL %d s, and confirm it", svc.DNSName, svc.PrimaryAddress, r.Inventory.DNS.TTL)
	add("report result and step durations to Zabbix host %s%s", r.standbyZabbixHost(), map[bool]string{true: ", acknowledge event " + r.Event}[r.Event != ""])
	return nil
}

// defaultEvidenceWait bounds a dry run's wait for its fencing sources: longer than the
// API login's own 3 s deadline, short enough for a person at a prompt.
const defaultEvidenceWait = 5 * time.Second

// awaitEvidence waits, bounded, until every fencing source can answer, and says which
// cannot ("" when all can).
func (r *Run) awaitEvidence(ctx context.Context) string {
	if r.EvidenceReady == nil {
		return ""
	}
	d := r.EvidenceWait
	if d <= 0 {
		d = defaultEvidenceWait
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := r.EvidenceReady(wctx); err != nil {
		return fmt.Sprintf("zabbix evidence unavailable: %v", err)
	}
	return ""
}

func (r *Run) standbyZabbixHost() string {
	if sb, ok := r.Inventory.Standby(r.Service.Standby.Host); ok {
		return sb.ZabbixHost
	}
	return r.Service.Standby.Host
}
