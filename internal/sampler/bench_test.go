package sampler

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/cpuusage"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor"
	"github.com/vcrcovery/vcrcovery/internal/hypervisor/hypervisortest"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// fakeTrapper accepts Zabbix sender requests and answers that every value was
// processed, doing as little as it can (it shares the benchmark's CPUs).
func fakeTrapper(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var h [13]byte
				if _, err := io.ReadFull(c, h[:]); err != nil {
					return
				}
				body := make([]byte, binary.LittleEndian.Uint32(h[5:9]))
				if _, err := io.ReadFull(c, body); err != nil {
					return
				}
				if h[4]&0x02 != 0 {
					zr, err := zlib.NewReader(bytes.NewReader(body))
					if err != nil {
						return
					}
					if body, err = io.ReadAll(zr); err != nil {
						return
					}
				}
				n := bytes.Count(body, []byte(`"host":`))
				reply := fmt.Sprintf(`{"response":"success","info":"processed: %d; failed: 0; total: %d; seconds spent: 0.000100"}`, n, n)
				out := make([]byte, 13, 13+len(reply))
				copy(out, "ZBXD\x01")
				binary.LittleEndian.PutUint32(out[5:], uint32(len(reply)))
				c.Write(append(out, reply...))
			}()
		}
	}()
	return ln.Addr().String()
}

// TestMain lets the benchmark run its fake agent in a process of its own (this test
// binary, started again with VCR_FAKE_AGENT_GUESTS set), so that the benchmark's
// allocations are the sender's alone.
func TestMain(m *testing.M) {
	if n := os.Getenv("VCR_FAKE_AGENT_GUESTS"); n != "" {
		helperAgent(n)
		return
	}
	os.Exit(m.Run())
}

// helperAgent serves n generated guests (their CpuTime growing with real time, the
// table cached 1 s) until stdin closes; it prints its address first.
func helperAgent(n string) {
	guests, err := strconv.Atoi(n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	a, err := hypervisortest.Start("bench", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	start := time.Now()
	a.SetSource(func() []hypervisortest.Guest { return hypervisortest.Synthetic(guests, time.Since(start)) }, time.Second,
		func() time.Duration { return time.Since(start) })
	fmt.Println(a.Addr())
	io.Copy(io.Discard, os.Stdin)
	a.Close()
}

// startHelperAgent starts helperAgent in a child process and returns its address.
func startHelperAgent(b *testing.B, guests int) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "VCR_FAKE_AGENT_GUESTS="+strconv.Itoa(guests))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close() // the agent ends when its stdin closes
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("fake agent: %v", err)
	}
	return strings.TrimSpace(line)
}

// BenchmarkRound is one sampling round of one hypervisor with 1,000 and 10,000 guests:
// the column-parallel GETBULK walk of a fake agent (another process, over loopback
// UDP), the CPU % of every guest, and the values (5 per guest) sent through
// zabbix.Sender (zlib, 1,000 values per request) to an in-process trapper that accepts
// everything. The fake agent answers from memory and needs no time to read libvirt, so
// time and allocations here are the sender's own (on 2 cores, the agent's process
// competes for the CPUs). scripts/bench-sender runs it beside the lab's real agent and
// the shell pipeline.
func BenchmarkRound(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, reps := range []int{25, 50} {
			b.Run(fmt.Sprintf("guests=%d/max-repetitions=%d", n, reps), func(b *testing.B) {
				addr := startHelperAgent(b, n)
				cf := filepath.Join(b.TempDir(), "community")
				if err := os.WriteFile(cf, []byte("bench\n"), 0o600); err != nil {
					b.Fatal(err)
				}
				hp, err := config.ParseHostPort(addr)
				if err != nil {
					b.Fatal(err)
				}
				inv := &config.Inventory{Hypervisors: []config.Hypervisor{{Name: "kvm", ZabbixHost: "kvm", Address: hp,
					Version: config.SNMPv2c, CommunityFile: cf, Timeout: 5 * time.Second}}}
				clk := cpuusage.NewFakeClock(t0)
				sender := &zabbix.Sender{Addr: fakeTrapper(b), Compress: true, Timeout: 10 * time.Second}
				e, err := New(Options{Inventory: inv, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clk, Sink: sender,
					Policy: cpuusage.Policy{Interval: 5 * time.Second}, Walk: hypervisor.WalkOptions{MaxRepetitions: reps}}, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				if h := e.Round(context.Background(), clk.Now()).Hypervisors[0]; h.Err != nil { // no CPU % yet
					b.Fatal(h.Err)
				}
				var walk, send, compute time.Duration
				var values, requests int
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					clk.Advance(5 * time.Second)
					start := time.Now()
					rep := e.Round(context.Background(), clk.Now())
					el := time.Since(start)
					h := rep.Hypervisors[0]
					if h.Err != nil || h.SendErr != nil || h.Counts["ok"] != n {
						b.Fatalf("round: %+v", h)
					}
					walk += h.Wait + h.Walk
					send += h.Send
					compute += el - h.Wait - h.Walk - h.Send
					values += h.Values
					requests += h.Requests
				}
				per := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(b.N) }
				b.ReportMetric(per(walk), "walk-ms/op")
				b.ReportMetric(per(compute), "cpu%-ms/op")
				b.ReportMetric(per(send), "send-ms/op")
				b.ReportMetric(float64(values)/float64(b.N), "values/op")
				b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
			})
		}
	}
}
