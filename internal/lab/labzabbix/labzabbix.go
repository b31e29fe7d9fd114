// Package labzabbix gives lab tests the lab's Zabbix API through the project's own
// client (internal/zabbix), and reads item history back from it. It is a package of its
// own because internal/zabbix's tests use internal/lab: lab importing zabbix would be an
// import cycle, so internal/zabbix's own lab tests keep their helper (lab.TrapperHost
// takes a lab.Caller for the same reason).
package labzabbix

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/secret"
	"github.com/vcrcovery/vcrcovery/internal/zabbix"
)

// API returns the lab's Zabbix API authenticated with the lab's API token
// (VCR_LAB_ZABBIX_API, VCR_LAB_ZABBIX_TOKEN_FILE). An API that does not answer fails
// the test under CI and skips it elsewhere (lab.Missing).
func API(t testing.TB) *zabbix.API {
	t.Helper()
	url := lab.Need(t, "ZABBIX_API")
	tok, err := secret.ReadFile(lab.Need(t, "ZABBIX_TOKEN_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	return connect(t, zabbix.APIOptions{URL: url, Token: tok})
}

// Session returns the lab's Zabbix API with a user.login session of the lab user
// (VCR_LAB_ZABBIX_USER, VCR_LAB_ZABBIX_PASSWORD_FILE), logged out when the test ends. A
// refused login fails the test: the lab is up but its user is wrong.
func Session(t testing.TB) *zabbix.API {
	t.Helper()
	url, user := lab.Need(t, "ZABBIX_API"), lab.Need(t, "ZABBIX_USER")
	pw, err := secret.ReadFile(lab.Need(t, "ZABBIX_PASSWORD_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	a := connect(t, zabbix.APIOptions{URL: url, Username: user, Password: pw})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Logout(ctx); err != nil {
			t.Logf("user.logout: %v", err)
		}
	})
	return a
}

func connect(t testing.TB, o zabbix.APIOptions) *zabbix.API {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := zabbix.NewAPI(ctx, o)
	if err != nil {
		var apiErr *zabbix.APIError
		if errors.As(err, &apiErr) {
			t.Fatal(err)
		}
		lab.Missing(t, "zabbix-api", err)
	}
	return a
}

// Value is one stored history value of an item.
type Value struct {
	Clock int64 // seconds since the epoch
	NS    int64 // nanoseconds within Clock
	Value string
}

// Values returns the values alone, in order.
func Values(h []Value) []string {
	out := make([]string, len(h))
	for i, v := range h {
		out[i] = v.Value
	}
	return out
}

// History returns the stored values of the item key of host, oldest first. valueType
// is the item's value type (lab.ValueFloat ...), which history.get needs to find them.
func History(t testing.TB, api *zabbix.API, host, key string, valueType int) []Value {
	t.Helper()
	ctx := context.Background()
	var items []struct {
		ItemID string `json:"itemid"`
	}
	if err := api.Call(ctx, "item.get", map[string]any{"host": host, "filter": map[string]any{"key_": key}}, &items); err != nil || len(items) != 1 {
		t.Fatalf("item.get %s %s: %v %v", host, key, items, err)
	}
	var h []struct {
		Clock string `json:"clock"`
		NS    string `json:"ns"`
		Value string `json:"value"`
	}
	params := map[string]any{"itemids": items[0].ItemID, "history": valueType, "sortfield": "clock", "sortorder": "ASC", "limit": 1000000}
	if err := api.Call(ctx, "history.get", params, &h); err != nil {
		t.Fatalf("history.get %s %s: %v", host, key, err)
	}
	out := make([]Value, len(h))
	for i, v := range h {
		c, _ := strconv.ParseInt(v.Clock, 10, 64)
		ns, _ := strconv.ParseInt(v.NS, 10, 64)
		out[i] = Value{Clock: c, NS: ns, Value: v.Value}
	}
	// history.get sorts by whole seconds only.
	slices.SortStableFunc(out, func(a, b Value) int {
		return cmp.Or(cmp.Compare(a.Clock, b.Clock), cmp.Compare(a.NS, b.NS))
	})
	return out
}

// WaitHistory polls History until cond holds or timeout passes (the history syncer
// writes about once a second) and returns the last values read and whether cond held.
func WaitHistory(t testing.TB, api *zabbix.API, host, key string, valueType int, timeout time.Duration, cond func([]Value) bool) ([]Value, bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h := History(t, api, host, key, valueType)
		if cond(h) {
			return h, true
		}
		if time.Now().After(deadline) {
			return h, false
		}
		time.Sleep(300 * time.Millisecond)
	}
}
