package zabbix

import (
	"context"
	"fmt"
	"log/slog"
)

// Pending is an API login under way. A user login costs tens of milliseconds (the
// frontend hashes the password), so a recovery starts it early and only waits for it
// where it must: fencing uses the API if it is ready, the report waits for it.
type Pending struct {
	done chan struct{}
	api  *API
	err  error
}

// LoginAsync starts Login in the background.
func LoginAsync(ctx context.Context, login func(context.Context) (*API, error)) *Pending {
	p := &Pending{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.api, p.err = login(ctx)
	}()
	return p
}

// Ready returns the API if the login finished and succeeded, else nil without waiting.
func (p *Pending) Ready() *API {
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return p.api
	default:
		return nil
	}
}

// Wait waits for the login and returns the API, or nil with the reason.
func (p *Pending) Wait(ctx context.Context) (*API, error) {
	if p == nil {
		return nil, nil
	}
	select {
	case <-p.done:
		return p.api, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// AckEvent waits for the login and acknowledges eventID with message (AckAcknowledge
// and AckMessage: the event stays open; the trigger's recovery closes it). A nil p
// (no api_url) does nothing.
func (p *Pending) AckEvent(ctx context.Context, eventID, message string) error {
	if p == nil {
		return nil
	}
	api, err := p.Wait(ctx)
	if api == nil {
		return fmt.Errorf("acknowledge event %s: no Zabbix API: %w", eventID, err)
	}
	if err := api.Acknowledge(ctx, eventID, AckAcknowledge|AckMessage, message); err != nil {
		return fmt.Errorf("acknowledge event %s: %w", eventID, err)
	}
	return nil
}

// Close waits for the login and ends its session.
func (p *Pending) Close(ctx context.Context, log *slog.Logger) {
	api, _ := p.Wait(ctx)
	if api == nil {
		return
	}
	if err := api.Logout(ctx); err != nil {
		log.Warn("zabbix API logout failed", "err", err)
	}
}
