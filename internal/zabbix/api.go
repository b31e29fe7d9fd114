package zabbix

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vcrcovery/vcrcovery/internal/secret"
)

// APIError is an error object of a JSON-RPC answer, e.g. code -32602 "Invalid params.".
type APIError struct {
	Method  string
	Code    int
	Message string
	Data    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("zabbix API %s: %s %s (code %d)", e.Method, e.Message, e.Data, e.Code)
}

// Is makes errors.Is(err, ErrSessionExpired) true for the answer to a call made with a
// session the server has ended: "Session terminated, re-login, please." (6.0; earlier
// versions say "Not authorised." with the same hint).
func (e *APIError) Is(target error) bool {
	return target == ErrSessionExpired && strings.Contains(e.Message+" "+e.Data, "re-login")
}

// ErrSessionExpired: the user.login session expired (the user's auto-logout) or was
// ended; log in again. An API token never expires this way.
var ErrSessionExpired = errors.New("zabbix API session expired")

// HTTPError is an answer with an HTTP status other than 200: the frontend failed before
// it could answer in JSON-RPC (a PHP error is HTTP 500).
type HTTPError struct {
	Method string
	Status string // e.g. "500 Internal Server Error"
	Code   int
	Body   string // the start of the answer
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("zabbix API %s: HTTP %s: %s", e.Method, e.Status, e.Body)
}

// APIOptions configure NewAPI. Give Token, or Username and Password.
type APIOptions struct {
	// URL of api_jsonrpc.php.
	URL      string
	Token    secret.Secret
	Username string
	Password secret.Secret
	// Timeout bounds each call; ctx may shorten it. Default 10s.
	Timeout time.Duration
	// HTTPClient defaults to a client with Timeout.
	HTTPClient *http.Client
}

// API is a Zabbix JSON-RPC client. It is safe for concurrent use once NewAPI returns.
type API struct {
	url       string
	http      *http.Client
	timeout   time.Duration
	auth      secret.Secret
	session   bool // auth is a user.login session (to log out), not an API token
	version   string
	useHeader bool // Authorization: Bearer (6.4+, required from 7.2) instead of body "auth"
	id        atomic.Int64
}

// maxAnswer caps an API answer; configuration exports of large setups stay well below.
const maxAnswer = 64 << 20

// NewAPI asks the server's version (apiinfo.version, which must be called without
// auth), picks how to send credentials, and logs in when given a username.
func NewAPI(ctx context.Context, o APIOptions) (*API, error) {
	a := &API{url: o.URL, http: o.HTTPClient, timeout: o.Timeout}
	if a.timeout <= 0 {
		a.timeout = 10 * time.Second
	}
	if a.http == nil {
		a.http = &http.Client{Timeout: a.timeout}
	}
	if err := a.Call(ctx, "apiinfo.version", map[string]any{}, &a.version); err != nil {
		return nil, fmt.Errorf("connect to Zabbix API %s: %w", o.URL, err)
	}
	major, minor, err := parseVersion(a.version)
	if err != nil {
		return nil, fmt.Errorf("connect to Zabbix API %s: %w", o.URL, err)
	}
	// 6.0 only reads the body field; 6.4 reads both; 7.2 only the header.
	a.useHeader = major > 6 || (major == 6 && minor >= 4)
	switch {
	case o.Token != "":
		a.auth = o.Token
	case o.Username != "":
		// 5.4 renamed user.login's "user" to "username"; 6.0 still takes "user" but
		// refuses both at once.
		field := "username"
		if major < 5 || (major == 5 && minor < 4) {
			field = "user"
		}
		var session string
		params := map[string]string{field: o.Username, "password": o.Password.Reveal()}
		if err := a.Call(ctx, "user.login", params, &session); err != nil {
			return nil, fmt.Errorf("log in to Zabbix API %s as %s: %w", o.URL, o.Username, err)
		}
		a.auth, a.session = secret.Secret(session), true
	default:
		return nil, errors.New("zabbix API: no token and no username")
	}
	return a, nil
}

// Version is the server's API version, e.g. "6.0.14".
func (a *API) Version() string { return a.version }

// Session reports whether the API uses a user.login session (else an API token).
func (a *API) Session() bool { return a.session }

// Logout ends a session opened by NewAPI with a username; with a token it does nothing.
func (a *API) Logout(ctx context.Context) error {
	if !a.session {
		return nil
	}
	var ok bool
	return a.Call(ctx, "user.logout", []any{}, &ok)
}

func parseVersion(v string) (major, minor int, err error) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, fmt.Errorf("unexpected API version %q", truncate(v))
	}
	if major, err = strconv.Atoi(parts[0]); err == nil {
		minor, err = strconv.Atoi(parts[1])
	}
	if err != nil {
		return 0, 0, fmt.Errorf("unexpected API version %q", truncate(v))
	}
	return major, minor, nil
}

// Call invokes method with params and decodes the answer's result into result (a
// pointer, or nil to discard it). API errors are *APIError.
func (a *API) Call(ctx context.Context, method string, params, result any) error {
	req := map[string]any{"jsonrpc": "2.0", "method": method, "params": params, "id": a.id.Add(1)}
	// apiinfo.version and user.login must go without credentials.
	withAuth := a.auth != "" && method != "apiinfo.version" && method != "user.login"
	if withAuth && !a.useHeader {
		req["auth"] = a.auth.Reveal()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("zabbix API %s: encode request: %w", method, err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("zabbix API %s: %w", method, err)
	}
	hreq.Header.Set("Content-Type", "application/json-rpc")
	if withAuth && a.useHeader {
		hreq.Header.Set("Authorization", "Bearer "+a.auth.Reveal())
	}
	resp, err := a.http.Do(hreq)
	if err != nil {
		return fmt.Errorf("zabbix API %s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("zabbix API %s: read answer: %w", method, err)
	}
	if len(raw) > maxAnswer {
		return fmt.Errorf("zabbix API %s: answer larger than %d bytes", method, maxAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		return &HTTPError{Method: method, Status: resp.Status, Code: resp.StatusCode, Body: truncate(string(raw))}
	}
	var ans struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    string `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return fmt.Errorf("zabbix API %s: answer is not JSON-RPC: %v: %s", method, err, truncate(string(raw)))
	}
	if ans.Error != nil {
		return &APIError{Method: method, Code: ans.Error.Code, Message: ans.Error.Message, Data: ans.Error.Data}
	}
	if ans.Result == nil {
		return fmt.Errorf("zabbix API %s: answer has neither result nor error: %s", method, truncate(string(raw)))
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(ans.Result, result); err != nil {
		return fmt.Errorf("zabbix API %s: decode result: %w", method, err)
	}
	return nil
}
