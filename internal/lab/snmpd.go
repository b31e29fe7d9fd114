package lab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// AgentOptions configure a test's own SNMP agent (StartAgent).
type AgentOptions struct {
	// LostFile is passed to the lab agent's -lost-file: once it exists, the agent
	// serves no rows until it is restarted, as libvirt-snmp after a libvirtd restart.
	LostFile string
	// V3User, when set, adds an SNMPv3 authPriv user of that name (SHA, AES) whose
	// passphrases StartAgent writes to 0600 files (Agent.V3).
	V3User string
}

// AgentV3User is the SNMPv3 user of a test agent: SHA authentication and AES privacy,
// passphrases in files.
type AgentV3User struct {
	Name                       string
	AuthPassFile, PrivPassFile string
}

// Agent is a test's own snmpd serving the lab agent's libvirtGuestTable from the lab's
// libvirt: a real snmpd and the real stand-in, like the lab's agent on 127.0.0.1:20161,
// but one that a test may break and restart without touching the shared one.
type Agent struct {
	// Addr is the agent's host:port; Community its v2c community (the lab's).
	Addr, Community string
	// V3 is its SNMPv3 user (AgentOptions.V3User), nil without one.
	V3 *AgentV3User

	t    testing.TB
	dir  string
	conf string
	cmd  *exec.Cmd
}

// StartAgent builds scripts/labagent, writes an snmpd configuration in a temporary
// folder and starts snmpd on a free loopback port; the agent stops when the test ends.
func StartAgent(t testing.TB, o AgentOptions) *Agent {
	t.Helper()
	uri := Need(t, "LIBVIRT_URI")
	cf := Need(t, "SNMP_COMMUNITY_FILE")
	if _, err := exec.LookPath("snmpd"); err != nil {
		Missing(t, "snmp (snmpd)", err)
	}
	b, err := os.ReadFile(cf)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vcr-labagent")
	Run(t, 2*time.Minute, "go", "build", "-o", bin, filepath.Join(Root(t), "scripts", "labagent"))
	a := &Agent{Community: strings.TrimSpace(string(b)), t: t, dir: dir, conf: filepath.Join(dir, "snmpd.conf")}
	a.Addr = FreeUDP(t)
	wrapper := filepath.Join(dir, "labagent-pass")
	args := fmt.Sprintf("pass -uri '%s' -log '%s/pass.log'", uri, dir)
	if o.LostFile != "" {
		args += fmt.Sprintf(" -lost-file '%s'", o.LostFile)
	}
	write(t, wrapper, 0o755, fmt.Sprintf("#!/bin/sh\nexec '%s' %s 2>>'%s/pass.log'\n", bin, args, dir))
	conf := fmt.Sprintf("[snmp] mibs :\ndontLogTCPWrappersConnects yes\nrocommunity %s 127.0.0.1\npass_persist .1.3.6.1.4.1.36957.1.1 %s\n", a.Community, wrapper)
	if o.V3User != "" {
		a.V3 = &AgentV3User{Name: o.V3User, AuthPassFile: filepath.Join(dir, "v3-auth"), PrivPassFile: filepath.Join(dir, "v3-priv")}
		auth, priv := "auth-"+randomHex(t), "priv-"+randomHex(t)
		write(t, a.V3.AuthPassFile, 0o600, auth+"\n")
		write(t, a.V3.PrivPassFile, 0o600, priv+"\n")
		// createUser is read once into snmpd's persistent store (SNMP_PERSISTENT_DIR).
		conf += fmt.Sprintf("createUser %s SHA %q AES %q\nrouser %s priv\n", o.V3User, auth, priv, o.V3User)
	}
	write(t, a.conf, 0o600, conf)
	a.start()
	t.Cleanup(a.stop)
	return a
}

// randomHex returns 16 random hex digits, for passphrases (at least 8 characters).
func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func write(t testing.TB, f string, mode os.FileMode, s string) {
	t.Helper()
	if err := os.WriteFile(f, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
}

// FreeUDP returns a UDP address on 127.0.0.1 that is free now (an inventory refuses
// port 0).
func FreeUDP(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func (a *Agent) start() {
	a.t.Helper()
	cmd := exec.Command("snmpd", "-f", "-Lf", filepath.Join(a.dir, "snmpd.log"), "-C", "-c", a.conf, "-I", "-smux", "udp:"+a.Addr)
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+filepath.Join(a.dir, "persist"), "SNMPCONFPATH="+a.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its pass_persist child goes with it
	if err := cmd.Start(); err != nil {
		Missing(a.t, "snmp (snmpd)", err)
	}
	a.cmd = cmd
	Until(a.t, "test snmpd answers on "+a.Addr, 20*time.Second, func() error {
		return exec.Command("snmpget", "-v2c", "-c", a.Community, "-t", "0.5", "-r", "0", "-m", "", "-On",
			"--noPersistentLoad=yes", "--noPersistentSave=yes", a.Addr, ".1.3.6.1.2.1.1.3.0").Run()
	})
}

func (a *Agent) stop() {
	if a.cmd == nil {
		return
	}
	syscall.Kill(-a.cmd.Process.Pid, syscall.SIGTERM)
	a.cmd.Wait()
	a.cmd = nil
}

// Restart stops snmpd (and its pass_persist agent) and starts it again on the same
// port: the cure for an agent that lost libvirt.
func (a *Agent) Restart() {
	a.t.Helper()
	a.stop()
	a.start()
}

// Log returns the agent's and snmpd's logs, for a failing test's message.
func (a *Agent) Log() string {
	p, _ := os.ReadFile(filepath.Join(a.dir, "pass.log"))
	s, _ := os.ReadFile(filepath.Join(a.dir, "snmpd.log"))
	return string(p) + string(s)
}
