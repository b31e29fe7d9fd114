package zabbix

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/lab"
	"github.com/vcrcovery/vcrcovery/internal/secret"
)

func labAPI(t *testing.T) *API {
	t.Helper()
	url := lab.Need(t, "ZABBIX_API")
	tok, err := secret.ReadFile(lab.Need(t, "ZABBIX_TOKEN_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := NewAPI(ctx, APIOptions{URL: url, Token: tok})
	if err != nil {
		lab.Missing(t, "zabbix-api", err)
	}
	return a
}

// labHost creates a throwaway host with text trapper items for keys.
func labHost(t *testing.T, a *API, keys ...string) string {
	t.Helper()
	items := map[string]int{}
	for _, k := range keys {
		items[k] = lab.ValueText
	}
	name, _ := lab.TrapperHost(t, a, "vcr-test", items)
	return name
}

func history(t *testing.T, a *API, host, key string) []string {
	t.Helper()
	var items []struct {
		ItemID string `json:"itemid"`
	}
	if err := a.Call(context.Background(), "item.get", map[string]any{"host": host, "filter": map[string]any{"key_": key}}, &items); err != nil || len(items) != 1 {
		t.Fatalf("item.get %s %s: %v %v", host, key, items, err)
	}
	var h []struct {
		Value string `json:"value"`
	}
	params := map[string]any{"itemids": items[0].ItemID, "history": 4, "sortfield": "clock", "sortorder": "ASC"}
	if err := a.Call(context.Background(), "history.get", params, &h); err != nil {
		t.Fatalf("history.get: %v", err)
	}
	var out []string
	for _, v := range h {
		out = append(out, v.Value)
	}
	return out
}

// waitHistory polls until key has want values stored (the history syncer writes once a
// second), then returns them.
func waitHistory(t *testing.T, a *API, host, key string, want int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := history(t, a, host, key)
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestLabAPILogin(t *testing.T) {
	a := labAPI(t)
	if !strings.HasPrefix(a.Version(), "6.") {
		t.Fatalf("version %q", a.Version())
	}
	pw, err := secret.ReadFile(lab.Need(t, "ZABBIX_PASSWORD_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := NewAPI(ctx, APIOptions{URL: lab.Need(t, "ZABBIX_API"), Username: lab.Need(t, "ZABBIX_USER"), Password: pw})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	var hosts []map[string]any
	if err := s.Call(ctx, "host.get", map[string]any{"output": []string{"host"}, "limit": 1}, &hosts); err != nil {
		t.Fatalf("host.get with session: %v", err)
	}
	if err := s.Logout(ctx); err != nil {
		t.Fatalf("logout: %v", err)
	}
	err = s.Call(ctx, "host.get", map[string]any{"limit": 1}, &hosts)
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("call after logout: err = %v, want *APIError", err)
	}

	_, err = NewAPI(ctx, APIOptions{URL: lab.Need(t, "ZABBIX_API"), Username: "Admin", Password: "wrong-password"})
	if !errors.As(err, &apiErr) || !strings.Contains(err.Error(), "log in to Zabbix API") {
		t.Fatalf("wrong password: err = %v", err)
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Fatal("error leaks the password")
	}
}

func TestLabAPIError(t *testing.T) {
	a := labAPI(t)
	// A host without groups is refused with "Invalid params."
	err := a.Call(context.Background(), "host.create", map[string]any{"host": "vcr-no-groups"}, nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != -32602 || apiErr.Method != "host.create" {
		t.Fatalf("err = %#v", err)
	}
}

// TestLabSenderStoresAndNamesRejected: values reach the real server's history exactly
// once each, and a value for a key that does not exist is named.
func TestLabSenderStoresAndNamesRejected(t *testing.T) {
	a := labAPI(t)
	host := labHost(t, a, "vcr.a", "vcr.b")
	s := &Sender{Addr: lab.Need(t, "ZABBIX_TRAPPER"), Compress: true}
	ctx := context.Background()
	batch := []Value{{Host: host, Key: "vcr.a", Value: "one"}, {Host: host, Key: "vcr.missing", Value: "x"}, {Host: host, Key: "vcr.b", Value: "two"}}

	res, err := s.Send(ctx, batch)
	if !errors.Is(err, ErrRejected) || res.Processed != 2 || res.Failed != 1 {
		t.Fatalf("first send: %+v, %v", res, err)
	}
	res, err = s.Send(ctx, batch)
	if !errors.Is(err, ErrRejected) || len(res.Rejected) != 1 || res.Rejected[0].Key != "vcr.missing" {
		t.Fatalf("second send: %+v, %v", res, err)
	}
	if got := waitHistory(t, a, host, "vcr.a", 2); strings.Join(got, ",") != "one,one" {
		t.Fatalf("history of vcr.a = %v, want [one one]: one value per send, none resent", got)
	}
	if got := waitHistory(t, a, host, "vcr.b", 2); strings.Join(got, ",") != "two,two" {
		t.Fatalf("history of vcr.b = %v", got)
	}
}

// TestLabStored: Stored finds exactly the values history holds, by item and clock to
// the nanosecond, across value types, and reports the rest (another nanosecond, no
// clock, an unknown key or host) not stored.
func TestLabStored(t *testing.T) {
	a := labAPI(t)
	host, _ := lab.TrapperHost(t, a, "vcr-test", map[string]int{"t.text": lab.ValueText, "t.uint": lab.ValueUnsigned})
	base := time.Now().Add(-time.Minute).Truncate(time.Second).Add(123456789)
	sent := []Value{
		{Host: host, Key: "t.text", Value: "a", Clock: base},
		{Host: host, Key: "t.uint", Value: "7", Clock: base.Add(time.Second)},
	}
	s := &Sender{Addr: lab.Need(t, "ZABBIX_TRAPPER")}
	if _, err := s.Send(context.Background(), sent); err != nil {
		t.Fatal(err)
	}
	ask := append(append([]Value(nil), sent...),
		Value{Host: host, Key: "t.text", Value: "a", Clock: base.Add(time.Nanosecond)},
		Value{Host: host, Key: "t.uint", Value: "7"},
		Value{Host: host, Key: "t.none", Value: "x", Clock: base},
		Value{Host: "vcr-no-such-host", Key: "t.text", Value: "a", Clock: base},
	)
	want := []bool{true, true, false, false, false, false}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := a.Stored(context.Background(), ask)
		if err != nil {
			t.Fatalf("Stored: %v", err)
		}
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Stored = %v, want %v", got, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
