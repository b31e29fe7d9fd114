package lock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestAcquireWaitsAndTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "web1.lock")
	first, err := Acquire(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, path); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Acquire while held: err = %v, want ErrBusy", err)
	}
	got := make(chan error, 1)
	go func() {
		l, err := Acquire(context.Background(), path)
		if err == nil {
			l.Unlock()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	first.Unlock()
	if err := <-got; err != nil {
		t.Fatalf("waiting Acquire after release: %v", err)
	}
}

// TestLockAcrossProcesses: the lock holds against another process (flock, not a mutex),
// and is released when that process dies.
func TestLockAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("flock", "-x", path, "sleep", "30")
	// Its own process group: sleep inherits the locked descriptor and must die too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("flock(1): %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		l, err := Acquire(ctx, path)
		cancel()
		if errors.Is(err, ErrBusy) {
			break
		}
		if err == nil {
			l.Unlock()
		}
		if time.Now().After(deadline) {
			t.Fatal("the other process never took the lock")
		}
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	l, err := Acquire(context.Background(), path)
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	l.Unlock()
}

// TestTry: Try never waits; it takes a free lock and refuses a held one with ErrBusy.
func TestTry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web1.lock")
	l, err := Try(path)
	if err != nil {
		t.Fatalf("Try on a free lock: %v", err)
	}
	t0 := time.Now()
	if _, err := Try(path); !errors.Is(err, ErrBusy) {
		t.Fatalf("Try while held: err = %v, want ErrBusy", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("Try while held took %s", d)
	}
	l.Unlock()
	if l, err = Try(path); err != nil {
		t.Fatalf("Try after release: %v", err)
	}
	l.Unlock()
}
