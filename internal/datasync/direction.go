// Package datasync owns the data of a service's standby container around a failover
// (shared/DESIGN.md, "data"): the service's own tools move the data (sync commands run
// inside the container), and this package decides when they may run, in which
// direction, and how old the standby's data is.
//
// Direction: once a recovery points the name at the container, the container holds
// the newest data, and a sync from the repaired primary would overwrite it. The
// recovery marks the service recovered (MarkRecovered) before its DNS switch, and only
// a finished failback clears the mark (ClearRecovered); sync refuses while it is set.
// The mark is a file in state_dir, replaced atomically, so it holds across runs and
// reboots of the standby VM.
package datasync

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/atomicfile"
)

// Direction is a service's data direction, in state_dir/direction/NAME.json.
type Direction struct {
	// Recovered: the name was switched (or a switch was attempted) to the container;
	// no sync may run towards it until a failback finishes.
	Recovered bool      `json:"recovered"`
	Since     time.Time `json:"since"`
	// By says which run set or cleared it ("recover event 123", "failback").
	By string `json:"by"`
}

// DirectionPath is the file of service's direction.
func DirectionPath(stateDir, service string) string {
	return filepath.Join(stateDir, "direction", service+".json")
}

// LoadDirection reads service's direction. No file: never recovered (the zero
// Direction). A file that cannot be read or parsed is an error: the caller must not
// sync on a guess.
func LoadDirection(stateDir, service string) (Direction, error) {
	var d Direction
	b, err := os.ReadFile(DirectionPath(stateDir, service))
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return d, fmt.Errorf("read the direction of %s: %w", service, err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("read the direction of %s from %s: %w", service, DirectionPath(stateDir, service), err)
	}
	return d, nil
}

// LastFailback returns when service's last failback finished (the name was switched
// back to a primary that served), or the zero time when none is known (never failed
// back, recovered now, or an unreadable file). Fencing and the stale-event check
// take what was seen before it as out of date.
func LastFailback(stateDir, service string) time.Time {
	d, err := LoadDirection(stateDir, service)
	if err != nil || d.Recovered || !strings.HasPrefix(d.By, "failback") {
		return time.Time{}
	}
	return d.Since
}

// MarkRecovered records that the name goes to the container from now on.
func MarkRecovered(stateDir, service, by string, now time.Time) error {
	return saveDirection(stateDir, service, Direction{Recovered: true, Since: now, By: by})
}

// ClearRecovered records that a failback finished: syncs towards the container may run.
func ClearRecovered(stateDir, service, by string, now time.Time) error {
	return saveDirection(stateDir, service, Direction{Since: now, By: by})
}

func saveDirection(stateDir, service string, d Direction) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(DirectionPath(stateDir, service), b, 0o640); err != nil {
		return fmt.Errorf("save the direction of %s: %w", service, err)
	}
	return nil
}
