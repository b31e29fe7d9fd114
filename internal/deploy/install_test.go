package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/lab"
)

// The tree `make install` wrote, once per test binary (building five binaries takes a
// while), removed by TestMain.
var (
	installOnce sync.Once
	installDir  string
	installErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if installDir != "" {
		os.RemoveAll(installDir)
	}
	os.Exit(code)
}

// prefix is where the tests install, under DESTDIR: the units name /usr/local/bin.
const prefix = "/usr/local"

// binaries are the Go programs `make install` puts in PREFIX/bin.
var binaries = []string{"vcr-trapd", "vcr-sender", "vcr-recover", "vcr-migrate", "vcr-provision"}

// installed runs `make install DESTDIR=tmp PREFIX=/usr/local` in the repository (once)
// and returns DESTDIR.
func installed(t *testing.T) string {
	t.Helper()
	installOnce.Do(func() {
		installDir, installErr = os.MkdirTemp("", "vcr-install-")
		if installErr != nil {
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "make", "-s", "--no-print-directory", "-C", lab.Root(t), "install",
			"DESTDIR="+installDir, "PREFIX="+prefix, "GO="+goBin)
		if out, err := cmd.CombinedOutput(); err != nil {
			installErr = fmt.Errorf("make install: %v\n%s", err, out)
		}
	})
	if installErr != nil {
		t.Fatal(installErr)
	}
	return installDir
}

// gitHead returns the commit the repository's work tree is at, and whether it has
// changes (what `go build` stamps as vcs.revision and vcs.modified).
func gitHead(t *testing.T) (string, bool) {
	t.Helper()
	rev := strings.TrimSpace(lab.Run(t, 10*time.Second, "git", "-C", lab.Root(t), "rev-parse", "HEAD"))
	st := lab.Run(t, 10*time.Second, "git", "-C", lab.Root(t), "status", "--porcelain")
	return rev, strings.TrimSpace(st) != ""
}

// TestInstall: `make install DESTDIR=... PREFIX=/usr/local` puts every binary, the
// Zabbix wrappers, the units, the cron and logrotate examples, the templates and the
// documents in their places, and every installed binary answers --version and
// -version with its name, version and the VCS revision of this work tree (exit 0,
// without an inventory: a fresh machine has none).
func TestInstall(t *testing.T) {
	root := lab.Root(t)
	dest := installed(t)
	want := []string{"bin/vcr-zabbix-recover", "bin/vcr-zabbix-migrate", "bin/vcr-sender-minute",
		"share/vcrcovery/README.md", "share/vcrcovery/runbook.md", "share/vcrcovery/logrotate/snmptrapd"}
	for _, b := range binaries {
		want = append(want, "bin/"+b)
	}
	for _, glob := range []string{"scripts/systemd/*", "scripts/cron/*.cron", "zabbix-templates/*.yaml"} {
		files, _ := filepath.Glob(filepath.Join(root, glob))
		if len(files) == 0 {
			t.Fatalf("no %s in the repository", glob)
		}
		for _, f := range files {
			switch filepath.Dir(glob) {
			case "scripts/systemd":
				want = append(want, "lib/systemd/system/"+filepath.Base(f))
			case "scripts/cron":
				want = append(want, "share/vcrcovery/cron/"+filepath.Base(f))
			default:
				want = append(want, "share/vcrcovery/zabbix-templates/"+filepath.Base(f))
			}
		}
	}
	for _, w := range want {
		fi, err := os.Stat(filepath.Join(dest, prefix, w))
		if err != nil {
			t.Errorf("not installed: %v", err)
			continue
		}
		if exe := fi.Mode()&0o111 != 0; exe != strings.HasPrefix(w, "bin/") {
			t.Errorf("%s: mode %v", w, fi.Mode())
		}
	}
	// The installed units and cron lines name the installed binaries.
	unit, err := os.ReadFile(filepath.Join(dest, prefix, "lib/systemd/system/vcr-trapd.service"))
	if err != nil || !bytes.Contains(unit, []byte("ExecStart="+prefix+"/bin/vcr-trapd ")) {
		t.Errorf("installed vcr-trapd.service does not start %s/bin/vcr-trapd (%v)", prefix, err)
	}

	rev, modified := gitHead(t)
	wantRev := "revision " + rev
	if modified {
		wantRev += " (modified)"
	}
	line := regexp.MustCompile(`^(vcr-[a-z]+) (\S+) revision ([0-9a-f]{40})( \(modified\))? \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ go\S+\n$`)
	for _, b := range binaries {
		for _, flag := range []string{"--version", "-version"} {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(filepath.Join(dest, prefix, "bin", b), flag)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Errorf("%s %s: %v (stderr %q)", b, flag, err, stderr.String())
				continue
			}
			out := stdout.String()
			m := line.FindStringSubmatch(out)
			switch {
			case m == nil:
				t.Errorf("%s %s printed %q, want NAME VERSION revision HASH [(modified)] TIME GO", b, flag, out)
			case m[1] != b:
				t.Errorf("%s %s names itself %q", b, flag, m[1])
			case !strings.Contains(out, wantRev+" "):
				t.Errorf("%s %s printed %q, want the work tree's %q", b, flag, out, wantRev)
			}
		}
	}
}
