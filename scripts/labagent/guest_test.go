package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib/guesttable"
)

type fixedSource []guesttable.Guest

func (f fixedSource) Guests(context.Context) ([]guesttable.Guest, error) { return f, nil }

// TestLostLibvirt: the agent serves rows until the lost file appears, then none for
// the rest of its life, even once the file is gone (libvirt-snmp never reconnects).
func TestLostLibvirt(t *testing.T) {
	f := filepath.Join(t.TempDir(), "lost")
	l := &lostLibvirt{File: f, src: fixedSource(guesttable.SyntheticGuests(2, 0))}
	steps := []struct {
		file bool
		rows int
	}{{false, 2}, {true, 0}, {false, 0}}
	for i, st := range steps {
		if st.file {
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			os.Remove(f)
		}
		g, err := l.Guests(context.Background())
		if len(g) != st.rows || (st.rows == 0) != errors.Is(err, errLostLibvirt) {
			t.Errorf("step %d: %d rows, err %v; want %d rows", i, len(g), err, st.rows)
		}
	}
}
