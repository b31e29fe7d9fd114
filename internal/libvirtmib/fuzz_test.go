package libvirtmib

import "testing"

// FuzzParseCell checks that any OID either fails or parses into a cell that formats back
// to the same OID (with a leading dot, without redundant zeros).
func FuzzParseCell(f *testing.F) {
	f.Add(".1.3.6.1.4.1.36957.1.1.1.7" + web1Index)
	f.Add("1.3.6.1.4.1.36957.1.1.1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0")
	f.Add(".1.3.6.1.4.1.36957.1.1.1.3.256")
	f.Fuzz(func(t *testing.T, oid string) {
		col, u, err := ParseCell(oid)
		if err != nil {
			return
		}
		back, u2, err := ParseCell(col.Cell(u))
		if err != nil || back != col || u2 != u {
			t.Fatalf("ParseCell(%q) = %v %v, its Cell %q parses to %v %v (%v)", oid, col, u, col.Cell(u), back, u2, err)
		}
	})
}

// FuzzParseUUID checks that a parsed UUID formats to a string that parses to it again.
func FuzzParseUUID(f *testing.F) {
	f.Add("6f1c8a52-3e0b-4d5e-9a77-0c1d2e3f4a01")
	f.Add("6f1c8a523e0b4d5e9a770c1d2e3f4a01")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUUID(s)
		if err != nil {
			return
		}
		if u2, err := ParseUUID(u.String()); err != nil || u2 != u {
			t.Fatalf("ParseUUID(%q) = %v; ParseUUID(%q) = %v, %v", s, u, u.String(), u2, err)
		}
	})
}
