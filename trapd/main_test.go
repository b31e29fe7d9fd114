package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/cli"
	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/lab/labzabbix"
)

// TestMain lets the tests run the real main in a child process (the test binary
// itself): signals and exit codes are the main's business.
func TestMain(m *testing.M) {
	if os.Getenv("VCR_TRAPD_TEST_MAIN") == "1" {
		os.Exit(cli.Run(program, os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// mainCmd returns the command running vcr-trapd's main with args.
func mainCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "VCR_TRAPD_TEST_MAIN=1")
	return cmd
}

// inventoryPath returns the file of an inventory that writeInventory wrote (next to
// its state folder).
func inventoryPath(t *testing.T, stateDir string) string {
	t.Helper()
	p := filepath.Join(filepath.Dir(stateDir), "vcrcovery.yaml")
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMainSIGTERM: the daemon as run by an init system. SIGTERM flushes what was
// received to Zabbix, logs the counters and exits 0.
func TestMainSIGTERM(t *testing.T) {
	api := labzabbix.API(t)
	host := testHost(t, api, hostItems())
	listenAddr := freeUDP(t)
	inv := writeInventory(t, host, listenAddr, lab.Need(t, "ZABBIX_TRAPPER"), "", nil)
	cmd := mainCmd("-config", inventoryPath(t, inv.StateDir), "-zabbix-host", host, "-forward-key", rawKey, "-stats-interval", "1h")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	waitLine := func(what string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("vcr-trapd ended before logging %q:\n%s", what, strings.Join(log, "\n"))
				}
				log = append(log, l)
				if strings.Contains(l, what) {
					return l
				}
			case <-timeout:
				t.Fatalf("vcr-trapd did not log %q:\n%s", what, strings.Join(log, "\n"))
			}
		}
	}
	waitLine("listening for traps")
	s := newTrapSender(t, listenAddr, "trapd-test")
	for i := 0; i < 20; i++ {
		s.numbered(t, i)
	}
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped := waitLine("trapd stopped")
	for range lines {
	}
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("vcr-trapd exited with %v after SIGTERM:\n%s", err, strings.Join(log, "\n"))
	}
	for _, want := range []string{"received=20", "rejected=20", "sent=20", "dropped=0", "spooled_values_left=0"} {
		if !strings.Contains(stopped, want) {
			t.Errorf("final counters lack %s: %s", want, stopped)
		}
	}
	waitStored(t, api, host, 20, 20*time.Second)
}

// TestFollowKilledMidDelivery: follow mode sends nothing twice when trapd is killed
// (SIGKILL) while a batch's fate is open. First trapd is killed the moment the
// trapper's acknowledgement has passed to it, before it saves the position (the saver
// writes within 20 ms, fsync'd). Then the trapper takes a batch and its reply never
// reaches trapd (the proxy keeps it), which leaves the same on disk: Zabbix has the
// values, the saved position is before them. Then a batch is recorded and sent but
// never reaches Zabbix. Each time the next trapd completes the batch from its ledger
// and Zabbix's history, and every trap is stored exactly once. Last, a reply is lost
// while trapd lives (it gives up waiting): it asks history too and sends nothing twice.
func TestFollowKilledMidDelivery(t *testing.T) {
	api := labzabbix.API(t)
	host := testHost(t, api, hostItems())
	px := lab.StartProxy(t, lab.Need(t, "ZABBIX_TRAPPER"))
	logFile := filepath.Join(t.TempDir(), "snmptrapd.log")
	trapAddr := freeUDP(t)
	snmptrapd(t, trapAddr, logFile)
	inv := writeInventory(t, host, freeUDP(t), px.Addr, logFile, func(m map[string]any) {
		// The sender must still be waiting for the reply when it is killed.
		m["zabbix"].(map[string]any)["timeout"] = "60s"
	})
	s := newTrapSender(t, trapAddr, "any")
	until := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		lab.Until(t, what, d, func() error {
			if cond() {
				return nil
			}
			return errors.New("not yet")
		})
	}
	send := func(from, to int) {
		for i := from; i < to; i++ {
			s.numbered(t, i)
		}
	}
	start := func(config string) (*exec.Cmd, *lab.SyncBuffer) {
		t.Helper()
		cmd := mainCmd("-config", config, "-mode", "follow", "-zabbix-host", host,
			"-forward-key", rawKey, "-stats-interval", "0", "-log-level", "debug")
		out := &lab.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("vcr-trapd (pid %d) log:\n%s", cmd.Process.Pid, out.String())
			}
		})
		until("vcr-trapd follows the log", 20*time.Second, func() bool {
			return strings.Contains(out.String(), "following snmptrapd's log")
		})
		return cmd, out
	}
	kill := func(cmd *exec.Cmd) {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
	}

	first, _ := start(inventoryPath(t, inv.StateDir))
	killed := make(chan struct{})
	px.AfterReply(func() {
		first.Process.Signal(syscall.SIGKILL)
		close(killed)
	})
	send(0, 3)
	<-killed
	first.Wait()
	a, _ := start(inventoryPath(t, inv.StateDir))
	send(3, 5)
	waitStored(t, api, host, 5, 30*time.Second)

	px.LoseReplies()
	send(5, 10)
	// trapd sends one batch at a time: the first is taken, the rest wait behind it.
	until("Zabbix takes a batch whose reply is kept from trapd", 30*time.Second, func() bool {
		return len(px.Forwarded(host, rawKey)) > 5
	})
	time.Sleep(200 * time.Millisecond) // the rest are read and queued
	kill(a)
	px.Relay()
	send(10, 12) // logged while trapd is down
	b, bLog := start(inventoryPath(t, inv.StateDir))
	send(12, 15)
	waitStored(t, api, host, 15, 30*time.Second)
	if !strings.Contains(bLog.String(), "Zabbix's history holds the whole batch: not sent again") {
		t.Errorf("the second trapd did not complete the open batch from history")
	}

	px.HoldRequests()
	held := px.Held()
	send(15, 20)
	until("trapd sends a batch that the proxy holds", 30*time.Second, func() bool { return px.Held() > held })
	kill(b)
	px.Relay()
	c, cLog := start(inventoryPath(t, inv.StateDir))
	waitStored(t, api, host, 20, 30*time.Second)
	if !strings.Contains(cLog.String(), "sending again only what Zabbix's history lacks") {
		t.Errorf("the third trapd did not complete the batch that never reached Zabbix")
	}
	kill(c)

	// The same state, a sender that waits 1 s for a reply.
	yml, err := os.ReadFile(inventoryPath(t, inv.StateDir))
	if err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(t.TempDir(), "vcrcovery.yaml")
	if !strings.Contains(string(yml), "timeout: 60s") {
		t.Fatalf("inventory without the zabbix timeout:\n%s", yml)
	}
	if err := os.WriteFile(short, []byte(strings.Replace(string(yml), "timeout: 60s", "timeout: 1s", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, dLog := start(short)
	px.LoseReplies()
	send(20, 25)
	until("trapd learns from history that Zabbix took the batch whose reply was lost", 30*time.Second, func() bool {
		return strings.Contains(dLog.String(), "the trapper's reply was lost; Zabbix's history holds the whole batch")
	})
	px.Relay()
	send(25, 27)
	waitStored(t, api, host, 27, 30*time.Second)

	time.Sleep(2 * time.Second) // the history syncer: a value sent twice would show by now
	got := rawSeqs(t, api, host)
	for i := 0; i < 27; i++ {
		if got[i] != 1 {
			t.Errorf("trap %d stored %d times, want once", i, got[i])
		}
	}
}
