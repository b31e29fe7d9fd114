package sampler

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// flaky is a trapper that can be down (a transport error) and refuses one key.
type flaky struct {
	mu   sync.Mutex
	down bool
	got  []string
}

var errDown = errors.New("dial tcp 127.0.0.1:10051: connect: connection refused")

func (f *flaky) Send(_ context.Context, vs []zabbix.Value) (zabbix.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return zabbix.Result{}, errDown
	}
	res := zabbix.Result{Total: len(vs)}
	for _, v := range vs {
		if v.Key == "refused" {
			res.Rejected = append(res.Rejected, v)
			continue
		}
		f.got = append(f.got, v.Key+"@"+strconv.FormatInt(v.Clock.Unix(), 10))
	}
	if len(res.Rejected) > 0 {
		return res, zabbix.ErrRejected
	}
	return res, nil
}

// TestSpooled: values sent while the trapper is down are spooled and replayed first,
// in order, with their own clocks, when it answers again; refused values are not
// spooled; the spool survives a restart (cron runs).
func TestSpooled(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	next := &flaky{}
	log := slog.New(slog.NewTextHandler(&lab.SyncBuffer{}, nil))
	open := func() (*Spooled, func()) {
		sp, closeFn, err := OpenSpool(context.Background(), dir, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return &Spooled{Next: next, Spool: sp, Log: log}, closeFn
	}
	s, closeFn := open()
	send := func(s *Spooled, key string, clock int64) error {
		_, err := s.Send(context.Background(), []zabbix.Value{{Host: "h", Key: key, Value: "1", Clock: time.Unix(clock, 0)}})
		return err
	}
	steps := []struct {
		down    bool
		key     string
		clock   int64
		spooled bool
	}{
		{false, "cpu", 100, false},
		{true, "cpu", 105, true},
		{true, "cpu", 110, true},
		{false, "refused", 112, false}, // replays 105, 110 first; then refused, not spooled
		{true, "cpu", 115, true},
	}
	for i, st := range steps {
		next.mu.Lock()
		next.down = st.down
		next.mu.Unlock()
		err := send(s, st.key, st.clock)
		if errors.Is(err, ErrSpooled) != st.spooled {
			t.Fatalf("step %d: err %v, want spooled %v", i, err, st.spooled)
		}
	}
	closeFn()
	s, closeFn = open() // a later run finds the spool
	defer closeFn()
	next.down = false
	if err := send(s, "cpu", 120); err != nil {
		t.Fatal(err)
	}
	want := []string{"cpu@100", "cpu@105", "cpu@110", "cpu@115", "cpu@120"}
	if diff := cmp.Diff(want, next.got); diff != "" {
		t.Errorf("delivered (-want +got)\n%s", diff)
	}
	if n := s.Spool.Values(); n != 0 {
		t.Errorf("%d values left in the spool", n)
	}
}
