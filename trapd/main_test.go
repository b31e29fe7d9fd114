package main

import (
	"bufio"
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
