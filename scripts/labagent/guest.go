package main

import (
	"context"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib/guesttable"
)

// source lists the guests of a hypervisor, as rows of libvirtGuestTable.
type source interface {
	Guests(ctx context.Context) ([]guesttable.Guest, error)
}
