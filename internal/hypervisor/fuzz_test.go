package hypervisor

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// FuzzTableWalk feeds the walk decoder arbitrary answers (built from the fuzz input:
// OIDs in and around the table, any type, any value) and checks that it never panics,
// never accepts a column that goes backwards, always ends, and returns sorted, unique,
// complete rows.
func FuzzTableWalk(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x02\x01\x04\x00\x00\x00\x00\x00\x00\x00\x07\x03\x05\x01\x02\x03\x04\x05\x06\x07\x08"))
	f.Add(slices.Repeat([]byte{7, 1, 0x46, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		tw := newTableWalk(WalkColumns, 50)
		last := map[libvirtmib.Column]libvirtmib.UUID{}
		for rounds := 0; len(data) > 0 && rounds < 100; rounds++ {
			oids, idx := tw.pending()
			if len(oids) == 0 {
				break
			}
			var vars []gosnmp.SnmpPDU
			vars, data = fuzzVars(data)
			before := map[int]string{}
			for _, i := range idx {
				before[i] = tw.cols[i].last
			}
			if err := tw.absorb(idx, vars); err != nil {
				return
			}
			for _, i := range idx {
				c := tw.cols[i]
				if c.last != before[i] {
					if p, ok := last[c.col]; ok && slices.Compare(c.lastRow[:], p[:]) <= 0 {
						t.Fatalf("column %s went from row %v to %v", c.col, p, c.lastRow)
					}
					last[c.col] = c.lastRow
				}
			}
		}
		w, err := tw.result()
		if err != nil {
			return
		}
		for i, g := range w.Guests {
			if i > 0 && slices.Compare(w.Guests[i-1].UUID[:], g.UUID[:]) >= 0 {
				t.Fatalf("guests not sorted and unique at %d: %v", i, w.Guests)
			}
		}
		if len(w.Guests)+w.Partial > 50 {
			t.Fatalf("%d rows over the limit of 50", len(w.Guests)+w.Partial)
		}
	})
}

// fuzzVars turns input bytes into one answer's variables: per variable a column byte,
// a type byte, a length byte (sub-identifiers of the index), the index and 8 value bytes.
func fuzzVars(data []byte) ([]gosnmp.SnmpPDU, []byte) {
	var vars []gosnmp.SnmpPDU
	n := 1 + int(data[0]%12)
	data = data[1:]
	for ; n > 0 && len(data) >= 3; n-- {
		col, typ, l := data[0]%11, gosnmp.Asn1BER(data[1]), int(data[2]%20)
		data = data[3:]
		if len(data) < l+8 {
			break
		}
		name := libvirtmib.GuestEntry + "." + itoa(uint64(col))
		for _, b := range data[:l] {
			name += "." + itoa(uint64(b))
		}
		raw := binary.BigEndian.Uint64(data[l : l+8])
		data = data[l+8:]
		var v any
		switch typ {
		case gosnmp.OctetString:
			v = []byte(itoa(raw))
		case gosnmp.Integer:
			v = int(int32(raw))
		case gosnmp.Gauge32, gosnmp.Counter32:
			v = uint(raw >> 30)
		case gosnmp.Counter64:
			v = raw
		case gosnmp.Uinteger32:
			v = uint32(raw)
		}
		vars = append(vars, gosnmp.SnmpPDU{Name: name, Type: typ, Value: v})
	}
	return vars, data
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
