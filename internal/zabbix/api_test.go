package zabbix

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeAPI answers apiinfo.version with version and records how later calls carried auth.
func fakeAPI(t *testing.T, version string, answer func(method string) string) (*httptest.Server, *[]string) {
	t.Helper()
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req struct {
			Method string `json:"method"`
			Auth   string `json:"auth"`
			Params map[string]any
		}
		json.Unmarshal(b, &req)
		seen = append(seen, req.Method+" body="+req.Auth+" header="+r.Header.Get("Authorization"))
		switch {
		case req.Method == "apiinfo.version":
			io.WriteString(w, `{"jsonrpc":"2.0","result":"`+version+`","id":1}`)
		case answer != nil:
			io.WriteString(w, answer(req.Method))
		case req.Method == "user.login":
			if _, ok := req.Params["username"]; !ok {
				io.WriteString(w, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params.","data":"no username"},"id":1}`)
				return
			}
			io.WriteString(w, `{"jsonrpc":"2.0","result":"sess","id":1}`)
		default:
			io.WriteString(w, `{"jsonrpc":"2.0","result":[],"id":1}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestAuthByVersion(t *testing.T) {
	tests := []struct {
		version, want string
	}{
		{"6.0.14", "host.get body=tok header="},
		{"6.4.0", "host.get body= header=Bearer tok"},
		{"7.2.1", "host.get body= header=Bearer tok"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			srv, seen := fakeAPI(t, tt.version, nil)
			a, err := NewAPI(context.Background(), APIOptions{URL: srv.URL, Token: "tok"})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Call(context.Background(), "host.get", map[string]any{}, nil); err != nil {
				t.Fatal(err)
			}
			if (*seen)[0] != "apiinfo.version body= header=" {
				t.Errorf("apiinfo.version carried auth: %q", (*seen)[0])
			}
			if (*seen)[1] != tt.want {
				t.Errorf("got %q, want %q", (*seen)[1], tt.want)
			}
		})
	}
}

func TestLoginSendsNoAuth(t *testing.T) {
	srv, seen := fakeAPI(t, "7.0.0", nil)
	a, err := NewAPI(context.Background(), APIOptions{URL: srv.URL, Username: "Admin", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	a.Call(context.Background(), "host.get", map[string]any{}, nil)
	want := []string{"apiinfo.version body= header=", "user.login body= header=", "host.get body= header=Bearer sess"}
	if strings.Join(*seen, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", *seen)
	}
}

func TestBadAnswers(t *testing.T) {
	tests := []struct {
		name, answer, want string
	}{
		{"not json", "<html>fatal error</html>", "answer is not JSON-RPC"},
		{"no result", `{"jsonrpc":"2.0","id":1}`, "neither result nor error"},
		{"api error", `{"jsonrpc":"2.0","error":{"code":-32500,"message":"Application error.","data":"No permissions."},"id":1}`, "zabbix API host.get: Application error. No permissions. (code -32500)"},
		{"wrong result type", `{"jsonrpc":"2.0","result":"x","id":1}`, "decode result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := fakeAPI(t, "6.0.14", func(string) string { return tt.answer })
			a, err := NewAPI(context.Background(), APIOptions{URL: srv.URL, Token: "t"})
			if err != nil {
				t.Fatal(err)
			}
			var out []any
			err = a.Call(context.Background(), "host.get", map[string]any{}, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestHTTPErrorAndHang(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, err := NewAPI(context.Background(), APIOptions{URL: srv.URL, Token: "t"})
	if err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("err = %v", err)
	}
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer hang.Close()
	defer close(release) // runs before Close, which waits for the handler
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := NewAPI(ctx, APIOptions{URL: hang.URL, Token: "t"}); err == nil {
		t.Fatal("a hanging server did not give an error")
	}
}
