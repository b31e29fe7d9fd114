package zabbix

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// scriptedAPI is a 6.0 API whose answer to method is answers[method] (HTTP 200 unless
// it starts with "HTTP 500"); params holds the params of each call after the login.
func scriptedAPI(t *testing.T, answers map[string]string) (srv *httptest.Server, params *[]string) {
	t.Helper()
	var seen []string
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req struct {
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		json.Unmarshal(b, &req)
		switch req.Method {
		case "apiinfo.version":
			io.WriteString(w, `{"jsonrpc":"2.0","result":"6.0.14","id":1}`)
			return
		case "user.login":
			io.WriteString(w, `{"jsonrpc":"2.0","result":"sess","id":1}`)
			return
		}
		seen = append(seen, req.Method+" "+string(req.Params))
		a := answers[req.Method]
		if body, ok := strings.CutPrefix(a, "HTTP 500 "); ok {
			http.Error(w, body, http.StatusInternalServerError)
			return
		}
		io.WriteString(w, `{"jsonrpc":"2.0",`+a+`,"id":1}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

const sessionTerminated = `"error":{"code":-32602,"message":"Invalid params.","data":"Session terminated, re-login, please."}`

// TestExecuteScriptErrors: the two answers callers branch on are sentinels, for a
// token and for a user session.
func TestExecuteScriptErrors(t *testing.T) {
	tests := []struct {
		name             string
		answer           string
		user             bool
		expired, refused bool
		want             ScriptResult
	}{
		{name: "success", answer: `"result":{"response":"success","value":"started"}`, want: ScriptResult{Response: "success", Value: "started"}},
		{name: "token: HTTP 500 is refused", answer: "HTTP 500 PHP Fatal error", refused: true},
		{name: "session: HTTP 500 is only an HTTP error", answer: "HTTP 500 PHP Fatal error", user: true},
		{name: "session terminated", answer: sessionTerminated, user: true, expired: true},
		{name: "other API error", answer: `"error":{"code":-32500,"message":"Application error.","data":"Cannot execute script."}`, user: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := scriptedAPI(t, map[string]string{"script.execute": tt.answer})
			o := APIOptions{URL: srv.URL, Token: "tok"}
			if tt.user {
				o = APIOptions{URL: srv.URL, Username: "vcr", Password: "pw"}
			}
			a, err := NewAPI(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.ExecuteScript(context.Background(), "7", "10084")
			if errors.Is(err, ErrSessionExpired) != tt.expired || errors.Is(err, ErrTokenRefused) != tt.refused {
				t.Errorf("err %v: expired %v refused %v, want %v %v", err, errors.Is(err, ErrSessionExpired), errors.Is(err, ErrTokenRefused), tt.expired, tt.refused)
			}
			var he *HTTPError
			if strings.HasPrefix(tt.answer, "HTTP 500") && (!errors.As(err, &he) || he.Code != 500 || !strings.Contains(err.Error(), "HTTP 500 Internal Server Error")) {
				t.Errorf("err %v: not an HTTPError 500", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{`script.execute {"hostid":"10084","scriptid":"7"}`}, *seen); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAcknowledge: named flags add up to event.acknowledge's action; the message goes
// only with AckMessage, cut to what the server accepts.
func TestAcknowledge(t *testing.T) {
	srv, seen := scriptedAPI(t, map[string]string{"event.acknowledge": `"result":{"eventids":["42"]}`})
	a, err := NewAPI(context.Background(), APIOptions{URL: srv.URL, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Acknowledge(ctx, "42", AckAcknowledge|AckMessage, "vcrcovery recover web1: ok"); err != nil {
		t.Fatal(err)
	}
	if err := a.Acknowledge(ctx, "42", AckClose, "not sent"); err != nil {
		t.Fatal(err)
	}
	if err := a.Acknowledge(ctx, "42", AckMessage, strings.Repeat("x", 3000)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`event.acknowledge {"action":6,"eventids":"42","message":"vcrcovery recover web1: ok"}`,
		`event.acknowledge {"action":1,"eventids":"42"}`,
		`event.acknowledge {"action":4,"eventids":"42","message":"` + strings.Repeat("x", 2048) + `"}`,
	}
	if diff := cmp.Diff(want, *seen); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestHostStatus: availability from the interfaces (6.0: 1 available, 2 unavailable)
// and maintenance from maintenance_status.
func TestHostStatus(t *testing.T) {
	tests := []struct {
		name, result string
		want         HostStatus
		err          error
	}{
		{"one interface up", `[{"maintenance_status":"0","interfaces":[{"available":"2"},{"available":"1"}]}]`, HostStatus{Availability: Reachable}, nil},
		{"all down", `[{"maintenance_status":"0","interfaces":[{"available":"2"},{"available":"0"}]}]`, HostStatus{Availability: Unreachable}, nil},
		{"unknown, in maintenance", `[{"maintenance_status":"1","interfaces":[{"available":"0"}]}]`, HostStatus{Maintenance: true}, nil},
		{"no interfaces", `[{"maintenance_status":"0","interfaces":[]}]`, HostStatus{}, nil},
		{"no host", `[]`, HostStatus{}, ErrNoHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := scriptedAPI(t, map[string]string{"host.get": `"result":` + tt.result})
			a, err := NewAPI(context.Background(), APIOptions{URL: srv.URL, Token: "tok"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.HostStatus(context.Background(), "web1")
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestLastValue: an item without a value yet (lastclock 0) is no value.
func TestLastValue(t *testing.T) {
	tests := []struct {
		name, result, want string
		ok                 bool
	}{
		{"value", `[{"lastvalue":"5","lastclock":"1795318949","lastns":"250000000"}]`, "5", true},
		{"never received", `[{"lastvalue":"0","lastclock":"0"}]`, "", false},
		{"no item", `[]`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := scriptedAPI(t, map[string]string{"item.get": `"result":` + tt.result})
			a, err := NewAPI(context.Background(), APIOptions{URL: srv.URL, Token: "tok"})
			if err != nil {
				t.Fatal(err)
			}
			got, at, ok, err := a.LastValue(context.Background(), "kvm1", "vcr.guest.state[x]")
			if err != nil || got != tt.want || ok != tt.ok {
				t.Errorf("got %q %v %v, want %q %v", got, ok, err, tt.want, tt.ok)
			}
			if wantAt := time.Unix(1795318949, 250000000); ok && !at.Equal(wantAt) {
				t.Errorf("at %s, want %s", at, wantAt)
			}
		})
	}
}

// TestEvent: a problem's start and whether it was resolved, from event.get.
func TestEvent(t *testing.T) {
	tests := []struct {
		name, result string
		resolved     bool
		err          error
	}{
		{"open problem", `[{"eventid":"42","clock":"1795318949","ns":"5","value":"1","r_eventid":"0"}]`, false, nil},
		{"resolved", `[{"eventid":"42","clock":"1795318949","ns":"5","value":"1","r_eventid":"43"}]`, true, nil},
		{"gone", `[]`, false, ErrNoEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := scriptedAPI(t, map[string]string{"event.get": `"result":` + tt.result})
			a, err := NewAPI(context.Background(), APIOptions{URL: srv.URL, Token: "tok"})
			if err != nil {
				t.Fatal(err)
			}
			ev, err := a.Event(context.Background(), "42")
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err == nil && (ev.Resolved() != tt.resolved || !ev.Time().Equal(time.Unix(1795318949, 5))) {
				t.Errorf("%+v: resolved %v, time %s", ev, ev.Resolved(), ev.Time())
			}
			if want := `event.get {"eventids":["42"],"output":["eventid","clock","ns","value","r_eventid"]}`; !slices.Contains(*seen, want) {
				t.Errorf("requests %v, want %s", *seen, want)
			}
		})
	}
}
