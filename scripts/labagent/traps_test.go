package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

func TestParseEvent(t *testing.T) {
	tests := []struct {
		line string
		want event
		ok   bool
	}{
		{"2026-11-22 02:56:52.252+0000: event 'lifecycle' for domain 'web2': Stopped Destroyed",
			event{"web2", "Stopped", "Destroyed"}, true},
		{"2026-11-22 03:09:05.677+0000: event 'lifecycle' for domain 'web1': Started Booted",
			event{"web1", "Started", "Booted"}, true},
		{"2026-11-22 03:09:07.835+0000: event 'lifecycle' for domain 'a': b': Defined Updated",
			event{"a': b", "Defined", "Updated"}, true},
		{"event loop interrupted", event{}, false},
		{"", event{}, false},
		{"2026-11-22 03:09:05.677+0000: event 'lifecycle' for domain 'web1'", event{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, ok := parseEvent(tt.line)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestEventState(t *testing.T) {
	// What the real agent was seen to send (lab notes): state and row status per action.
	type trap struct {
		State     libvirtmib.GuestState
		RowStatus libvirtmib.RowStatus
		Query     bool
		Send      bool
	}
	tests := []struct {
		event string
		want  trap
	}{
		{"Started", trap{libvirtmib.StateRunning, libvirtmib.RowActive, false, true}},
		{"Stopped", trap{libvirtmib.StateShutoff, libvirtmib.RowNotInService, false, true}}, // destroy, shutdown
		{"Suspended", trap{libvirtmib.StatePaused, libvirtmib.RowActive, false, true}},
		{"Resumed", trap{libvirtmib.StateRunning, libvirtmib.RowActive, false, true}},
		{"Defined", trap{libvirtmib.StateShutoff, libvirtmib.RowNotInService, true, true}},
		{"Crashed", trap{libvirtmib.StateCrashed, libvirtmib.RowNotInService, false, true}},
		{"Undefined", trap{Send: false, State: 0, RowStatus: libvirtmib.RowActive}},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			s, q, send := eventState(tt.event)
			got := trap{s, s.RowStatus(), q, send}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// TestNotificationMatchesRealAgent compares our traps with the real libvirt-snmp agent's
// (testdata/libvirt-snmp-traps.pcap): coldStart, guest traps for start, destroy, start,
// suspend, resume, shutdown, start, then nsNotifyShutdown.
func TestNotificationMatchesRealAgent(t *testing.T) {
	payloads := lab.PcapPayloads(t, "testdata/libvirt-snmp-traps.pcap")
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
	var states []libvirtmib.GuestState
	for i, p := range payloads {
		pkt, err := dec.SnmpDecodePacket(p)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if pkt.PDUType != gosnmp.SNMPv2Trap || len(pkt.Variables) < 2 {
			t.Fatalf("packet %d: PDU type %v with %d varbinds, want an SNMPv2-Trap", i, pkt.PDUType, len(pkt.Variables))
		}
		if pkt.Variables[1].Value != libvirtmib.GuestNotif {
			continue // snmpd's coldStart and nsNotifyShutdown
		}
		vars := pkt.Variables
		name := string(vars[2].Value.([]byte))
		u, err := libvirtmib.UUIDFromBytes(vars[3].Value.([]byte))
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		state := libvirtmib.GuestState(vars[4].Value.(int))
		states = append(states, state)
		uptime := time.Duration(vars[0].Value.(uint32)) * 10 * time.Millisecond

		// Same varbinds: OIDs, types and values in the same order.
		ours := notification(uptime, name, u, state)
		if diff := cmp.Diff(decoded(t, marshal(t, ours, pkt.RequestID)), vars); diff != "" {
			t.Errorf("packet %d (%s %v): varbinds (-ours +real)\n%s", i, name, state, diff)
		}
		// Same bytes on the wire, given the real request ID and community.
		if got := marshal(t, ours, pkt.RequestID); string(got) != string(p) {
			t.Errorf("packet %d (%s %v): bytes differ\nours % x\nreal % x", i, name, state, got, p)
		}
		if state == libvirtmib.StateShutoff && len(p) != 174 {
			t.Errorf("packet %d: destroy/shutdown trap is %d bytes, the lab notes say 174", i, len(p))
		}
	}
	want := []libvirtmib.GuestState{1, 5, 1, 3, 1, 5, 1}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("guest trap states (-want +got)\n%s", diff)
	}
}

func marshal(t *testing.T, vars []gosnmp.SnmpPDU, reqID uint32) []byte {
	t.Helper()
	pkt := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: "public", PDUType: gosnmp.SNMPv2Trap,
		RequestID: reqID, Variables: vars}
	b, err := pkt.MarshalMsg()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decoded(t *testing.T, b []byte) []gosnmp.SnmpPDU {
	t.Helper()
	pkt, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(b)
	if err != nil {
		t.Fatal(err)
	}
	return pkt.Variables
}
