package dcs

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrUnreachable is wrapped by every error that means etcd did not answer: no endpoint
// reachable, no quorum (no leader), or the request's deadline passed. The state in etcd
// is then unknown, not changed: callers make no takeovers and no demotions.
var ErrUnreachable = errors.New("etcd unreachable or without quorum")

// ErrNotOwner is returned by Commit and Release when the session does not own the
// service (another host claimed it, or the session's lease is no longer the owner's).
var ErrNotOwner = errors.New("not the owner")

// ErrLeaseLost is the reason a session ended when etcd answered that its lease no
// longer exists (it expired, or was revoked): its member and owner keys are gone.
var ErrLeaseLost = errors.New("lease lost")

// ErrSessionClosed is the reason a session ended when it was closed here, or its
// client was.
var ErrSessionClosed = errors.New("session closed")

// classify wraps err with ErrUnreachable when it says that etcd did not answer; other
// errors (a refused request, a cancelled context) come back unchanged.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnreachable) || !unreachable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}

// unreachable reports whether err is one of the forms in which the client or the
// server says that no answer could be had.
func unreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, clientv3.ErrNoAvailableEndpoints) {
		return true
	}
	// The client turns the server's own errors into rpctypes.EtcdError, which carries
	// the gRPC code but no gRPC status: "etcdserver: no leader", "request timed out",
	// "leader changed", "server stopped" are all Unavailable.
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable
	}
	// The status itself, not status.FromError's: for a wrapped error that one carries
	// the whole wrapped text as its message.
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return false
	}
	st := se.GRPCStatus()
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	case codes.Unknown:
		// The 3.4 server returns its handler's context error as a plain error, which
		// gRPC sends as code Unknown with the text: "rpc error: code = Unknown desc =
		// context deadline exceeded", for which errors.Is(err,
		// context.DeadlineExceeded) is false (shared/LAB-NOTES.md, etcd). The text is
		// the only mark it has.
		return st.Message() == context.DeadlineExceeded.Error()
	}
	return false
}
