package libvirtmib

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// web1 is the UUID of the lab's domain web1 (scripts/lab.d/common.sh).
var web1 = UUID{0x6f, 0x1c, 0x8a, 0x52, 0x3e, 0x0b, 0x4d, 0x5e, 0x9a, 0x77, 0x0c, 0x1d, 0x2e, 0x3f, 0x4a, 0x01}

const web1Index = ".111.28.138.82.62.11.77.94.154.119.12.29.46.63.74.1"

func TestOIDs(t *testing.T) {
	// The OIDs as numbers, from LIBVIRT-MIB and SNMPv2-MIB, not from the constants.
	tests := []struct {
		name, got, want string
	}{
		{"libvirtMIB", Root, ".1.3.6.1.4.1.36957"},
		{"libvirtGuestTable", GuestTable, ".1.3.6.1.4.1.36957.1.1"},
		{"libvirtGuestEntry", GuestEntry, ".1.3.6.1.4.1.36957.1.1.1"},
		{"libvirtGuestNotif", GuestNotif, ".1.3.6.1.4.1.36957.0.1"},
		{"sysUpTime.0", SysUpTime, ".1.3.6.1.2.1.1.3.0"},
		{"snmpTrapOID.0", SnmpTrapOID, ".1.3.6.1.6.3.1.1.4.1.0"},
		{"libvirtGuestName.0", NotifName, ".1.3.6.1.4.1.36957.1.1.1.2.0"},
		{"libvirtGuestUUID.0", NotifUUID, ".1.3.6.1.4.1.36957.1.1.1.1.0"},
		{"libvirtGuestState.0", NotifState, ".1.3.6.1.4.1.36957.1.1.1.3.0"},
		{"libvirtGuestRowStatus.0", NotifRowStatus, ".1.3.6.1.4.1.36957.1.1.1.9.0"},
		{"libvirtGuestName", ColumnName.OID(), ".1.3.6.1.4.1.36957.1.1.1.2"},
		{"libvirtGuestCpuTime", ColumnCPUTime.OID(), ".1.3.6.1.4.1.36957.1.1.1.7"},
		{"libvirtGuestRowStatus", ColumnRowStatus.OID(), ".1.3.6.1.4.1.36957.1.1.1.9"},
		{"libvirtGuestState web1", ColumnState.Cell(web1), ".1.3.6.1.4.1.36957.1.1.1.3" + web1Index},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestColumnString(t *testing.T) {
	got := []string{}
	for _, c := range append([]Column{ColumnUUID}, append(Columns, 8)...) {
		got = append(got, c.String())
	}
	want := []string{"libvirtGuestUUID", "libvirtGuestName", "libvirtGuestState", "libvirtGuestCpuCount",
		"libvirtGuestMemoryCurrent", "libvirtGuestMemoryLimit", "libvirtGuestCpuTime",
		"libvirtGuestRowStatus", "libvirtGuestColumn(8)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestParseUUID(t *testing.T) {
	tests := []struct {
		in      string
		want    UUID
		wantErr bool
	}{
		{in: "6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01", want: web1},
		{in: "6F1C8A52-3E0B-4D5E-9A77-0C1D2E3F4A01", want: web1},
		{in: "6f1c8a523e0b4d5e9a770c1d2e3f4a01", want: web1},
		{in: "6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a0", wantErr: true},
		{in: "6f1c8a52-3e0b4-d5e-9a77-0c1d2e3f4a01", wantErr: true},
		{in: "6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a0g", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseUUID(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseUUID(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestUUIDString(t *testing.T) {
	if diff := cmp.Diff("6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01", web1.String()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestUUIDFromBytes(t *testing.T) {
	got, err := UUIDFromBytes(web1[:])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(web1, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if _, err := UUIDFromBytes(web1[:15]); err == nil {
		t.Error("UUIDFromBytes(15 octets): no error")
	}
}

func TestIndex(t *testing.T) {
	tests := []struct {
		name string
		u    UUID
		want string
	}{
		{"web1", web1, web1Index},
		{"zero", UUID{}, ".0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"},
		{"ff", UUID{0: 0xff, 15: 0xff}, ".255.0.0.0.0.0.0.0.0.0.0.0.0.0.0.255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.u.Index()); diff != "" {
				t.Errorf("Index (-want +got)\n%s", diff)
			}
			back, err := ParseIndex(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.u, back); diff != "" {
				t.Errorf("ParseIndex (-want +got)\n%s", diff)
			}
		})
	}
}

func TestParseIndexErrors(t *testing.T) {
	for _, in := range []string{
		"",
		".1.2.3",
		".16" + web1Index, // with a length prefix: 17 sub-identifiers
		".256.28.138.82.62.11.77.94.154.119.12.29.46.63.74.1",
		".-1.28.138.82.62.11.77.94.154.119.12.29.46.63.74.1",
		".x.28.138.82.62.11.77.94.154.119.12.29.46.63.74.1",
	} {
		if u, err := ParseIndex(in); err == nil {
			t.Errorf("ParseIndex(%q) = %v, want an error", in, u)
		}
	}
}

func TestParseCell(t *testing.T) {
	tests := []struct {
		oid     string
		col     Column
		u       UUID
		wantErr bool
	}{
		{oid: ".1.3.6.1.4.1.36957.1.1.1.7" + web1Index, col: ColumnCPUTime, u: web1},
		{oid: "1.3.6.1.4.1.36957.1.1.1.2" + web1Index, col: ColumnName, u: web1},
		{oid: ".1.3.6.1.4.1.36957.1.1.1.7", wantErr: true},
		{oid: ".1.3.6.1.4.1.36957.1.1.1.7.1.2", wantErr: true},
		{oid: ".1.3.6.1.4.1.36957.1.1.1.0" + web1Index, wantErr: true},
		{oid: ".1.3.6.1.4.1.12345.1.1.1.7" + web1Index, wantErr: true},
		{oid: ".1.3.6.1.4.1.36957.1.1.10.7" + web1Index, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.oid, func(t *testing.T) {
			col, u, err := ParseCell(tt.oid)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseCell error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff([2]any{tt.col, tt.u}, [2]any{col, u}); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestGuestState(t *testing.T) {
	type row struct {
		Name      string
		Down      bool
		RowStatus RowStatus
	}
	tests := []struct {
		s    GuestState
		want row
	}{
		{StateNoState, row{"nostate", false, RowActive}},
		{StateRunning, row{"running", false, RowActive}},
		{StateBlocked, row{"blocked", false, RowActive}},
		{StatePaused, row{"paused", false, RowActive}},
		{StateShutdown, row{"shutdown", true, RowNotInService}},
		{StateShutoff, row{"shutoff", true, RowNotInService}},
		{StateCrashed, row{"crashed", true, RowNotInService}},
		{StatePMSuspended, row{"pmsuspended", false, RowActive}},
		{GuestState(8), row{"unknown(8)", false, RowActive}},
		{GuestState(-1), row{"unknown(-1)", false, RowActive}},
	}
	for _, tt := range tests {
		t.Run(tt.want.Name, func(t *testing.T) {
			got := row{tt.s.String(), tt.s.Down(), tt.s.RowStatus()}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestRowStatusString(t *testing.T) {
	got := []string{}
	for r := RowStatus(0); r <= 7; r++ {
		got = append(got, r.String())
	}
	want := []string{"unknown(0)", "active", "notInService", "notReady", "createAndGo", "createAndWait", "destroy", "unknown(7)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestParseOID(t *testing.T) {
	tests := []struct {
		in      string
		want    []uint32
		wantErr bool
	}{
		{".1.3.6.1.4.1.36957", []uint32{1, 3, 6, 1, 4, 1, 36957}, false},
		{"1.3.6", []uint32{1, 3, 6}, false},
		{" .1.3\n", []uint32{1, 3}, false},
		{"", nil, true},
		{".", nil, true},
		{"1..3", nil, true},
		{"1.x", nil, true},
		{"1.4294967296", nil, true}, // beyond 32 bits
	}
	for _, tt := range tests {
		got, err := ParseOID(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseOID(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
			t.Errorf("ParseOID(%q) (-want +got)\n%s", tt.in, diff)
		}
	}
}
