package datasync

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/config"
	"github.com/vcrcovery/vcrcovery/internal/container"
	"github.com/vcrcovery/vcrcovery/internal/lock"
)

var primary = netip.MustParseAddr("10.0.0.5")

// fakeStandby answers Exec per command word and records what ran.
type fakeStandby struct {
	exec    map[string]container.ExecResult // by the command's first word after timeout(1)'s
	sleep   time.Duration                   // how long a "hang" runs before timeout(1) kills it
	ran     []string
	backup  time.Time
	backErr error
	dns     []netip.Addr
}

func (f *fakeStandby) Exec(ctx context.Context, name string, cmd []string) (container.ExecResult, error) {
	word := cmd[4] // timeout -s KILL SECS word...
	f.ran = append(f.ran, name+": "+strings.Join(cmd[4:], " "))
	if word == "hang" {
		time.Sleep(f.sleep)
		return container.ExecResult{ExitCode: 137}, nil
	}
	return f.exec[word], nil
}
func (f *fakeStandby) BackupCreated(ctx context.Context, b config.Backup) (time.Time, error) {
	return f.backup, f.backErr
}
func (f *fakeStandby) Lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	return f.dns, nil
}

func service(name string, cmd []string, lag bool) config.Service {
	s := config.Service{Name: name, DNSName: name + ".example.", PrimaryAddress: primary,
		Standby: config.ServiceStandby{Container: name, Mode: config.ModeWarm},
		Sync:    &config.Sync{Command: cmd, Period: time.Minute, Timeout: 50 * time.Millisecond, MaxAge: 3 * time.Minute}}
	if lag {
		s.Sync.Command, s.Sync.LagCommand = nil, cmd
	}
	return s
}

// TestSync: each case runs -sync once over its services (after setup) and checks the
// outcomes and what ran in the containers.
func TestSync(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	f64 := func(v float64) *float64 { return &v }
	ok := container.ExecResult{ExitCode: 0, Output: "done\n"}
	tests := []struct {
		name     string
		services []config.Service
		dns      []netip.Addr
		setup    func(t *testing.T, dir string)
		force    bool
		want     []Outcome
		wantRan  []string
	}{
		{"command syncs, data as of its start", []config.Service{service("a", []string{"pull"}, false)}, nil, nil, false,
			[]Outcome{{Service: "a", Result: ResultOK, Message: "synced", Age: f64(0), MaxAge: 180}}, []string{"a: pull"}},
		{"recovered: refuses and says why, runs nothing", []config.Service{service("a", []string{"pull"}, false)}, nil,
			func(t *testing.T, dir string) {
				if err := MarkRecovered(dir, "a", "recover event 42", now.Add(-time.Hour)); err != nil {
					t.Fatal(err)
				}
			}, true,
			[]Outcome{{Service: "a", Result: ResultRefused, MaxAge: 180,
				Message: "a was recovered into its container at 2026-12-02T11:00:00Z (recover event 42): no sync towards the container until -failback finishes"}}, nil},
		{"failback cleared the mark: syncs again", []config.Service{service("a", []string{"pull"}, false)}, nil,
			func(t *testing.T, dir string) {
				MarkRecovered(dir, "a", "recover", now.Add(-time.Hour))
				if err := ClearRecovered(dir, "a", "failback", now.Add(-time.Minute)); err != nil {
					t.Fatal(err)
				}
			}, false,
			[]Outcome{{Service: "a", Result: ResultOK, Message: "synced", Age: f64(0), MaxAge: 180}}, []string{"a: pull"}},
		{"name on the container without a mark: refuses", []config.Service{service("a", []string{"pull"}, false)},
			[]netip.Addr{netip.MustParseAddr("10.0.9.7")}, nil, false,
			[]Outcome{{Service: "a", Result: ResultRefused, MaxAge: 180,
				Message: "a.example. points at [10.0.9.7], not at the primary 10.0.0.5: no sync towards the container"}}, nil},
		{"unreadable direction: refuses", []config.Service{service("a", []string{"pull"}, false)}, nil,
			func(t *testing.T, dir string) {
				os.MkdirAll(dir+"/direction", 0o750)
				os.WriteFile(DirectionPath(dir, "a"), []byte("{garbage"), 0o600)
			}, false,
			[]Outcome{{Service: "a", Result: ResultError, MaxAge: 180,
				Message: "refusing to sync without a readable direction: read the direction of a from DIR/direction/a.json: invalid character 'g' looking for beginning of object key string"}}, nil},
		{"a run holds the lock: skipped", []config.Service{service("a", []string{"pull"}, false)}, nil,
			func(t *testing.T, dir string) {
				l, err := lock.Acquire(context.Background(), lock.ServicePath(dir, "a"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Unlock() })
			}, false,
			[]Outcome{{Service: "a", Result: ResultBusy, MaxAge: 180,
				Message: "another run (recover, failback, migrate) holds the service's lock: skipped this period"}}, nil},
		{"hang is killed and reported, the next service goes on",
			[]config.Service{service("a", []string{"hang"}, false), service("b", []string{"pull"}, false)}, nil, nil, false,
			[]Outcome{
				{Service: "a", Result: ResultTimeout, MaxAge: 180, Message: `hook sync (["hang"]) in a: killed at its timeout after 50ms`},
				{Service: "b", Result: ResultOK, Message: "synced", Age: f64(0), MaxAge: 180}},
			[]string{"a: hang", "b: pull"}},
		{"failing command", []config.Service{service("a", []string{"fail"}, false)}, nil, nil, false,
			[]Outcome{{Service: "a", Result: ResultFailed, MaxAge: 180, Message: "hook sync exited 3: rsync: connection refused"}}, []string{"a: fail"}},
		{"lag as printed", []config.Service{service("a", []string{"lag"}, true)}, nil, nil, false,
			[]Outcome{{Service: "a", Result: ResultOK, Message: "lag 12.5 s", Age: f64(12.5), MaxAge: 180}}, []string{"a: lag"}},
		{"garbage lag names it", []config.Service{service("a", []string{"garbage"}, true)}, nil, nil, false,
			[]Outcome{{Service: "a", Result: ResultBadLag, MaxAge: 180,
				Message: `lag_command ["garbage"]: want a number of seconds of lag, got "ERROR: replica not configured"`}}, []string{"a: garbage"}},
		{"negative lag is garbage", []config.Service{service("a", []string{"negative"}, true)}, nil, nil, false,
			[]Outcome{{Service: "a", Result: ResultBadLag, MaxAge: 180,
				Message: `lag_command ["negative"]: want a number of seconds of lag, got "-3"`}}, []string{"a: negative"}},
		{"not due: no run, the age from the last one", []config.Service{service("a", []string{"pull"}, false)}, nil,
			func(t *testing.T, dir string) {
				r := &Runner{Inventory: &config.Inventory{StateDir: dir}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
					Now: func() time.Time { return now.Add(-30 * time.Second) }, DNS: &fakeStandby{dns: []netip.Addr{primary}},
					Locate: func(ctx context.Context, svc *config.Service) (Containers, error) {
						return &fakeStandby{exec: map[string]container.ExecResult{"pull": {}}}, nil
					}}
				s := service("a", []string{"pull"}, false)
				r.Run(context.Background(), []*config.Service{&s})
			}, false,
			[]Outcome{{Service: "a", Result: ResultNotDue, MaxAge: 180, Age: f64(30),
				Message: "last run 2026-12-02T11:59:30Z, period 1m0s"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			dns := tt.dns
			if dns == nil {
				dns = []netip.Addr{primary}
			}
			f := &fakeStandby{dns: dns, sleep: 60 * time.Millisecond, exec: map[string]container.ExecResult{
				"pull": ok, "fail": {ExitCode: 3, Output: "rsync: connection refused\n"},
				"lag": {Output: "12.5\n"}, "garbage": {Output: "ERROR: replica not configured"}, "negative": {Output: "-3"},
			}}
			r := &Runner{Inventory: &config.Inventory{StateDir: dir}, DNS: f, Force: tt.force,
				Locate: func(ctx context.Context, svc *config.Service) (Containers, error) { return f, nil },
				Log:    slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }}
			var svcs []*config.Service
			for i := range tt.services {
				svcs = append(svcs, &tt.services[i])
			}
			got := r.Run(context.Background(), svcs)
			for i := range got {
				got[i].Seconds = 0 // the clock is fixed; a real one is not asserted
				got[i].Message = strings.ReplaceAll(got[i].Message, dir, "DIR")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("outcomes (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRan, f.ran); diff != "" {
				t.Errorf("ran in containers (-want +got)\n%s", diff)
			}
		})
	}
}

// TestBackupAge: a cold standby's backup is dated, or its error reported.
func TestBackupAge(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	s := config.Service{Name: "c", Standby: config.ServiceStandby{Mode: config.ModeCold,
		Backup: config.Backup{Kind: config.BackupTarball, Source: "/var/backups/c.tar.gz", MaxAge: time.Hour}}}
	for _, tt := range []struct {
		name string
		f    *fakeStandby
		want Outcome
	}{
		{"dated", &fakeStandby{backup: now.Add(-2 * time.Hour)}, Outcome{Service: "c", BackupAge: ptr(7200.0), BackupMaxAge: 3600}},
		{"vanished", &fakeStandby{backErr: errors.New("backup tarball: stat /var/backups/c.tar.gz: no such file or directory")},
			Outcome{Service: "c", BackupMaxAge: 3600, BackupError: "backup backup /var/backups/c.tar.gz: backup tarball: stat /var/backups/c.tar.gz: no such file or directory"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Runner{Inventory: &config.Inventory{StateDir: t.TempDir()}, DNS: tt.f,
				Locate: func(ctx context.Context, svc *config.Service) (Containers, error) { return tt.f, nil },
				Log:    slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }}
			got := r.Run(context.Background(), []*config.Service{&s})
			if diff := cmp.Diff([]Outcome{tt.want}, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if got[0].Failed() != (tt.want.BackupError != "") {
				t.Errorf("Failed() = %v", got[0].Failed())
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
