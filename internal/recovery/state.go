package recovery

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
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

// saveState writes atomically (temp file, fsync, rename) so that a crash never leaves a
// half-written file.
func saveState(dir, service string, s state) error {
	p := statePath(dir, service)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+service+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}
