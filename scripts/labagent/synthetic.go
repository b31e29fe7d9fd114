package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/libvirtmib/guesttable"
)

// synthetic adds generated guests (guesttable.Synthetic) to the table, so the sender's
// benchmark can walk 1,000-10,000 rows on one machine.
type synthetic struct {
	// N is the number of guests, unless File names a readable file holding a number.
	N    int
	File string
	// Start is when the guests "booted"; CpuTime grows from there.
	Start time.Time
	Now   func() time.Time
}

func (s synthetic) count() (int, error) {
	if s.File != "" {
		b, err := os.ReadFile(s.File)
		if err == nil {
			n, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || n < 0 {
				return 0, fmt.Errorf("synthetic guest count in %s: want a number >= 0, got %q", s.File, strings.TrimSpace(string(b)))
			}
			return n, nil
		}
		if !os.IsNotExist(err) {
			return 0, fmt.Errorf("read synthetic guest count: %w", err)
		}
	}
	return s.N, nil
}

// Guests returns the generated guests as they are now.
func (s synthetic) Guests(context.Context) ([]guesttable.Guest, error) {
	n, err := s.count()
	if err != nil {
		return nil, err
	}
	return guesttable.SyntheticGuests(n, s.Now().Sub(s.Start)), nil
}

// sources joins the guests of several sources. A failing source is reported and the
// others are still served.
type sources []source

func (ss sources) Guests(ctx context.Context) ([]guesttable.Guest, error) {
	var all []guesttable.Guest
	var errs []error
	for _, s := range ss {
		g, err := s.Guests(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, g...)
	}
	return all, errors.Join(errs...)
}
