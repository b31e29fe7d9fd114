package zabbix

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestPending(t *testing.T) {
	release := make(chan struct{})
	want := &API{}
	p := LoginAsync(context.Background(), func(context.Context) (*API, error) { <-release; return want, nil })
	if p.Ready() != nil {
		t.Fatal("Ready before the login finished")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if api, err := p.Wait(ctx); api != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait past its ctx: %v, %v", api, err)
	}
	close(release)
	if api, err := p.Wait(context.Background()); api != want || err != nil {
		t.Fatalf("Wait: %v, %v", api, err)
	}
	if p.Ready() != want {
		t.Fatal("Ready after the login")
	}

	failed := LoginAsync(context.Background(), func(context.Context) (*API, error) { return nil, errors.New("refused") })
	if api, err := failed.Wait(context.Background()); api != nil || err == nil {
		t.Fatalf("failed login: %v, %v", api, err)
	}
	failed.Close(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil))) // nothing to log out

	var none *Pending // no api_url in the inventory
	if none.Ready() != nil {
		t.Fatal("nil Pending is ready")
	}
	if api, err := none.Wait(context.Background()); api != nil || err != nil {
		t.Fatalf("nil Pending: %v, %v", api, err)
	}
}
