package sampler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// PrintSink writes values as zabbix_sender input lines with timestamps
// (`zabbix_sender -T -i FILE`): host, key, Unix time, value; values with blanks or
// quotes are quoted. It accepts every value. Safe for concurrent use.
type PrintSink struct {
	mu sync.Mutex
	w  io.Writer
}

// NewPrintSink returns a sink writing to w.
func NewPrintSink(w io.Writer) *PrintSink { return &PrintSink{w: w} }

// Send writes the values.
func (p *PrintSink) Send(_ context.Context, values []zabbix.Value) (zabbix.Result, error) {
	var sb strings.Builder
	for _, v := range values {
		fmt.Fprintf(&sb, "%s %s %d %s\n", quote(v.Host), quote(v.Key), v.Clock.Unix(), quote(v.Value))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.w, sb.String()); err != nil {
		return zabbix.Result{}, fmt.Errorf("print %d values: %w", len(values), err)
	}
	return zabbix.Result{Processed: len(values), Total: len(values)}, nil
}

func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"\\\n") {
		return s
	}
	return strconv.Quote(s)
}

// Tee sends to every sink in turn; the first one's Result is returned, errors are
// joined.
type Tee []Sink

// Send sends to each sink.
func (t Tee) Send(ctx context.Context, values []zabbix.Value) (zabbix.Result, error) {
	var first zabbix.Result
	var errs []error
	for i, s := range t {
		r, err := s.Send(ctx, values)
		if i == 0 {
			first = r
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return first, errors.Join(errs...)
}
