package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLimiter(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	l := New(log, time.Minute)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	l.Log(slog.LevelWarn, "community", "refused", "n", 1)
	l.Log(slog.LevelWarn, "community", "refused", "n", 2)
	l.Log(slog.LevelWarn, "malformed", "bad", "n", 3)
	l.Log(slog.LevelWarn, "community", "refused", "n", 4)
	now = now.Add(time.Minute)
	l.Log(slog.LevelWarn, "community", "refused", "n", 5)
	l.Log(slog.LevelWarn, "community", "refused", "n", 6)
	want := []string{
		"level=WARN msg=refused kind=community n=1",
		"level=WARN msg=bad kind=malformed n=3",
		"level=WARN msg=refused kind=community n=5 suppressed=2",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(buf.String()), "\n")); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
