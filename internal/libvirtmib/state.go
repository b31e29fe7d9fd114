package libvirtmib

import "strconv"

// GuestState is the value of libvirtGuestState. The MIB defines running(1) to
// crashed(6); libvirt-snmp copies libvirt's virDomainState unchanged, so libvirt's
// nostate(0) and pmsuspended(7) can appear as well.
type GuestState int

// Guest states (LIBVIRT-MIB libvirtGuestState, libvirt virDomainState).
const (
	// StateNoState is libvirt's VIR_DOMAIN_NOSTATE; not in the MIB.
	StateNoState GuestState = 0
	// StateRunning is running(1).
	StateRunning GuestState = 1
	// StateBlocked is blocked(2): running but blocked on a resource.
	StateBlocked GuestState = 2
	// StatePaused is paused(3): suspended by the administrator.
	StatePaused GuestState = 3
	// StateShutdown is shutdown(4): being shut down.
	StateShutdown GuestState = 4
	// StateShutoff is shutoff(5): not running.
	StateShutoff GuestState = 5
	// StateCrashed is crashed(6).
	StateCrashed GuestState = 6
	// StatePMSuspended is libvirt's VIR_DOMAIN_PMSUSPENDED (suspended by guest power
	// management); not in the MIB.
	StatePMSuspended GuestState = 7
)

var stateNames = [...]string{"nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended"}

// String returns the MIB's name of the state ("running"), libvirt's for 0 and 7, and
// "unknown(N)" for any other value.
func (s GuestState) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown(" + strconv.Itoa(int(s)) + ")"
}

// Down reports whether the guest is not running its workload: shutdown, shutoff or
// crashed. These are the states for which libvirt-snmp's trap says NotInService.
func (s GuestState) Down() bool {
	return s == StateShutdown || s == StateShutoff || s == StateCrashed
}

// RowStatus returns the libvirtGuestRowStatus that libvirt-snmp puts in a
// libvirtGuestNotif for a guest in state s: NotInService when s is Down, else Active.
func (s GuestState) RowStatus() RowStatus {
	if s.Down() {
		return RowNotInService
	}
	return RowActive
}

// RowStatus is a value of the RowStatus textual convention (SNMPv2-TC, RFC 2579), the
// syntax of libvirtGuestRowStatus.
type RowStatus int

// RowStatus values (RFC 2579). An agent reports only the first three; the others are
// actions a manager may set.
const (
	// RowActive is active(1).
	RowActive RowStatus = 1
	// RowNotInService is notInService(2).
	RowNotInService RowStatus = 2
	// RowNotReady is notReady(3).
	RowNotReady RowStatus = 3
	// RowCreateAndGo is createAndGo(4).
	RowCreateAndGo RowStatus = 4
	// RowCreateAndWait is createAndWait(5); libvirt-snmp does not support it.
	RowCreateAndWait RowStatus = 5
	// RowDestroy is destroy(6).
	RowDestroy RowStatus = 6
)

var rowStatusNames = [...]string{"", "active", "notInService", "notReady", "createAndGo", "createAndWait", "destroy"}

// String returns the RFC 2579 name ("notInService"), or "unknown(N)".
func (r RowStatus) String() string {
	if r >= 1 && int(r) < len(rowStatusNames) {
		return rowStatusNames[r]
	}
	return "unknown(" + strconv.Itoa(int(r)) + ")"
}
