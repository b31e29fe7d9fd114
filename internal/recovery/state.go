package recovery

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/atomicfile"
)

// state is what the last run of a service left, in StateDir/services/NAME.json: it lets
// a duplicate event, or a run that waited for a concurrent one, see that the work is done.
type state struct {
	Event      string    `json:"event"`
	Action     string    `json:"action"`
	Result     string    `json:"result"`
	ServedFrom string    `json:"served_from"`
	Finished   time.Time `json:"finished"`
}

// OK reports whether that run left the service recovered.
func (s state) OK() bool { return s.Result == ResultOK || s.Result == ResultAlreadyDone }

func statePath(dir, service string) string {
	return filepath.Join(dir, "services", service+".json")
}

// loadState returns the zero state when there is none or it is unreadable: the state
// only saves work, every decision is checked against DNS and LXD anyway.
func loadState(dir, service string) state {
	var s state
	b, err := os.ReadFile(statePath(dir, service))
	if err == nil {
		_ = json.Unmarshal(b, &s)
	}
	return s
}

// saveState replaces the file atomically, so that a crash never leaves half of it.
func saveState(dir, service string, s state) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(statePath(dir, service), b, 0o640); err != nil {
		return fmt.Errorf("save the state of %s: %w", service, err)
	}
	return nil
}
