package main

import (
	"context"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib"
)

// Guest is one row of libvirtGuestTable, in the MIB's units. The row's
// libvirtGuestRowStatus is always active(1), as in libvirt-snmp.
type Guest struct {
	UUID         libvirtmib.UUID
	Name         string
	State        libvirtmib.GuestState
	CPUs         uint32 // libvirtGuestCpuCount
	MemoryMiB    uint32 // libvirtGuestMemoryCurrent
	MemoryMaxMiB uint32 // libvirtGuestMemoryLimit
	CPUTimeNanos uint64 // libvirtGuestCpuTime; 0 while the guest is shut off
}

// source lists the guests of a hypervisor.
type source interface {
	Guests(ctx context.Context) ([]Guest, error)
}
