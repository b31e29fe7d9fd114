package main

import (
	"context"
	"errors"
	"os"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib/guesttable"
)

// source lists the guests of a hypervisor, as rows of libvirtGuestTable.
type source interface {
	Guests(ctx context.Context) ([]guesttable.Guest, error)
}

// lostLibvirt imitates libvirt-snmp after libvirtd restarted: the subagent never
// reconnects, logs "Failed to list all domains: client socket is closed" and serves no
// guest rows until it is restarted itself. Here the loss is asked for: once File
// exists at a table refresh, the source is lost for the rest of the process's life
// (removing the file does not cure it; restarting the agent does, as for the real one).
type lostLibvirt struct {
	File string
	src  source
	lost bool
}

func (l *lostLibvirt) Guests(ctx context.Context) ([]guesttable.Guest, error) {
	if !l.lost && l.File != "" {
		if _, err := os.Stat(l.File); err == nil {
			l.lost = true
		}
	}
	if l.lost {
		return nil, errLostLibvirt
	}
	return l.src.Guests(ctx)
}

// errLostLibvirt is the real agent's message for a libvirt connection it lost.
var errLostLibvirt = errors.New("Failed to list all domains: client socket is closed")
