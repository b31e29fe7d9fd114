package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// These tests check the lab's snmp component (scripts/lab.d/snmp.sh): snmpd serving
// LIBVIRT-MIB's libvirtGuestTable for the libvirt component's domains, and the
// libvirtGuestNotif traps that snmptrapd logs. The table is cached for up to 5 s, like
// libvirt-snmp's: tests poll until a change shows.

// snmpAgent connects a v2c client to the lab's agent, or fails or skips the test when the
// agent does not answer.
func snmpAgent(t *testing.T) *gosnmp.GoSNMP {
	t.Helper()
	addr := Need(t, "SNMP_AGENT")
	b, err := os.ReadFile(Need(t, "SNMP_COMMUNITY_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	g := &gosnmp.GoSNMP{Target: host, Port: uint16(p), Community: strings.TrimSpace(string(b)),
		Version: gosnmp.Version2c, Timeout: 2 * time.Second, Retries: 1, Context: context.Background()}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Conn.Close() })
	if _, err := g.Get([]string{libvirtmib.SysUpTime}); err != nil {
		Missing(t, "snmpd", fmt.Errorf("get sysUpTime.0 from %s: %w", addr, err))
	}
	return g
}

// snmpRow is one row of libvirtGuestTable as walked.
type snmpRow map[libvirtmib.Column]gosnmp.SnmpPDU

// snmpWalkGuests walks libvirtGuestTable with GETBULK and returns its rows by UUID.
func snmpWalkGuests(t *testing.T, g *gosnmp.GoSNMP) map[libvirtmib.UUID]snmpRow {
	t.Helper()
	pdus, err := g.BulkWalkAll(libvirtmib.GuestEntry)
	if err != nil {
		t.Fatalf("walk libvirtGuestTable: %v", err)
	}
	rows := map[libvirtmib.UUID]snmpRow{}
	for _, p := range pdus {
		col, u, err := libvirtmib.ParseCell(p.Name)
		if err != nil {
			t.Fatalf("walked %s: %v", p.Name, err)
		}
		if rows[u] == nil {
			rows[u] = snmpRow{}
		}
		rows[u][col] = p
	}
	return rows
}

// snmpGuestCell reads one cell with GET.
func snmpGuestCell(t *testing.T, g *gosnmp.GoSNMP, col libvirtmib.Column, u libvirtmib.UUID) gosnmp.SnmpPDU {
	t.Helper()
	r, err := g.Get([]string{col.Cell(u)})
	if err != nil {
		t.Fatalf("get %s of %s: %v", col, u, err)
	}
	return r.Variables[0]
}

// snmpPollState polls the guest's libvirtGuestState until it is want.
func snmpPollState(t *testing.T, g *gosnmp.GoSNMP, u libvirtmib.UUID, want libvirtmib.GuestState, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got gosnmp.SnmpPDU
	for time.Now().Before(deadline) {
		got = snmpGuestCell(t, g, libvirtmib.ColumnState, u)
		if got.Type == gosnmp.Integer && libvirtmib.GuestState(got.Value.(int)) == want {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("libvirtGuestState of %s: still %v (%v), want %d (%v)", u, got.Value, got.Type, want, want)
}

func mustUUID(t *testing.T, s string) libvirtmib.UUID {
	t.Helper()
	u, err := libvirtmib.ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSNMPWalkShowsGuests(t *testing.T) {
	uri, doms := lvDomains(t)
	port := Need(t, "SERVICE_PORT")
	g := snmpAgent(t)
	for _, d := range doms {
		lvEnsureRunning(t, uri, d, port)
	}
	for _, d := range doms {
		// Another test may just have restarted the domain: the cache shows it within 5 s.
		snmpPollState(t, g, mustUUID(t, d.UUID), libvirtmib.StateRunning, 15*time.Second)
	}

	rows := snmpWalkGuests(t, g)
	for _, d := range doms {
		row, ok := rows[mustUUID(t, d.UUID)]
		if !ok {
			t.Errorf("domain %s (%s): no row in libvirtGuestTable", d.Name, d.UUID)
			continue
		}
		want := map[libvirtmib.Column]gosnmp.Asn1BER{
			libvirtmib.ColumnName: gosnmp.OctetString, libvirtmib.ColumnState: gosnmp.Integer,
			libvirtmib.ColumnCPUCount: gosnmp.Gauge32, libvirtmib.ColumnMemoryCurrent: gosnmp.Gauge32,
			libvirtmib.ColumnMemoryLimit: gosnmp.Gauge32, libvirtmib.ColumnCPUTime: gosnmp.Counter64,
			libvirtmib.ColumnRowStatus: gosnmp.Integer,
		}
		for col, typ := range want {
			if row[col].Type != typ {
				t.Errorf("domain %s: %s has type %v, want %v", d.Name, col, row[col].Type, typ)
			}
		}
		if name, _ := row[libvirtmib.ColumnName].Value.([]byte); string(name) != d.Name {
			t.Errorf("domain %s: libvirtGuestName %q", d.Name, name)
		}
		if st, _ := row[libvirtmib.ColumnState].Value.(int); libvirtmib.GuestState(st) != libvirtmib.StateRunning {
			t.Errorf("domain %s: libvirtGuestState %v, want running(1)", d.Name, row[libvirtmib.ColumnState].Value)
		}
		if rs, _ := row[libvirtmib.ColumnRowStatus].Value.(int); libvirtmib.RowStatus(rs) != libvirtmib.RowActive {
			t.Errorf("domain %s: libvirtGuestRowStatus %v, want active(1)", d.Name, row[libvirtmib.ColumnRowStatus].Value)
		}
		if limit, _ := row[libvirtmib.ColumnMemoryLimit].Value.(uint); limit != 64 {
			t.Errorf("domain %s: libvirtGuestMemoryLimit %v MiB, want 64", d.Name, row[libvirtmib.ColumnMemoryLimit].Value)
		}
	}

	// The CPU time of a running domain grows: poll past the agent's 5 s cache.
	u := mustUUID(t, doms[0].UUID)
	first := gosnmp.ToBigInt(snmpGuestCell(t, g, libvirtmib.ColumnCPUTime, u).Value)
	deadline := time.Now().Add(20 * time.Second)
	for {
		now := gosnmp.ToBigInt(snmpGuestCell(t, g, libvirtmib.ColumnCPUTime, u).Value)
		if now.Cmp(first) > 0 {
			t.Logf("%s: libvirtGuestCpuTime %v -> %v ns", doms[0].Name, first, now)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: libvirtGuestCpuTime stays %v ns", doms[0].Name, first)
		}
		time.Sleep(time.Second)
	}
}

// snmpHexString is how snmptrapd logs an OCTET STRING that is not printable.
func snmpHexString(u libvirtmib.UUID) string {
	var sb strings.Builder
	for _, b := range u {
		fmt.Fprintf(&sb, "%02X ", b)
	}
	return "Hex-STRING: " + sb.String()
}

// snmpTrapLogged polls snmptrapd's log, from offset on, for a line holding every want.
func snmpTrapLogged(t *testing.T, log string, offset int64, timeout time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) > offset {
			for _, line := range strings.Split(string(b[offset:]), "\n") {
				ok := true
				for _, w := range want {
					ok = ok && strings.Contains(line, w)
				}
				if ok {
					return line
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no trap with %q in %s after offset %d:\n%s", want, log, offset, b[min(offset, int64(len(b))):])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDestroyProducesTrapAndShutoff(t *testing.T) {
	uri, doms := lvDomains(t)
	port := Need(t, "SERVICE_PORT")
	trapLog := Need(t, "SNMPTRAPD_LOG")
	g := snmpAgent(t)
	var d lvDomain
	for _, x := range doms {
		if x.Name == "web2" {
			d = x
		}
	}
	if d.Name == "" {
		d = doms[len(doms)-1]
	}
	u := mustUUID(t, d.UUID)
	lvEnsureRunning(t, uri, d, port)

	st, err := os.Stat(trapLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := lvVirsh(uri, "start", d.Name); err != nil && !strings.Contains(out, "already active") {
			t.Errorf("restore: virsh start %s: %v: %s", d.Name, err, out)
		}
		if err := lvServes(net.JoinHostPort(d.IP, port), d.Name+" primary", 30*time.Second); err != nil {
			t.Errorf("restore: %v", err)
		}
	})
	Run(t, 30*time.Second, "virsh", "-q", "-c", uri, "destroy", d.Name)

	// libvirtGuestNotif for the domain with state shutoff(5), row status notInService(2).
	line := snmpTrapLogged(t, trapLog, st.Size(), 10*time.Second,
		libvirtmib.SnmpTrapOID+" = OID: "+libvirtmib.GuestNotif+"\t",
		libvirtmib.NotifName+` = STRING: "`+d.Name+`"`,
		libvirtmib.NotifUUID+" = "+snmpHexString(u),
		libvirtmib.NotifState+" = INTEGER: 5",
		libvirtmib.NotifRowStatus+" = INTEGER: 2")
	t.Logf("snmptrapd: %s", line)

	// The table shows it once its cache expires.
	snmpPollState(t, g, u, libvirtmib.StateShutoff, 15*time.Second)
	if v := gosnmp.ToBigInt(snmpGuestCell(t, g, libvirtmib.ColumnCPUTime, u).Value); v.Sign() != 0 {
		t.Errorf("libvirtGuestCpuTime of the shut-off %s = %v, want 0", d.Name, v)
	}
}
