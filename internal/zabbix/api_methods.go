package zabbix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Typed helpers for the API methods vcrcovery calls (Zabbix 6.0 API reference,
// https://www.zabbix.com/documentation/6.0/en/manual/api/reference). Each returns the
// *APIError of Call unwrapped, so that callers add what they were doing.

// Num is an integer field of an API object. Zabbix answers numbers as JSON strings
// ("type": "1") and accepts either form; Num reads both and writes a number.
type Num int

// UnmarshalJSON accepts 1 and "1".
func (n *Num) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	} else {
		s = string(b)
	}
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("zabbix: number field holds %q", s)
	}
	*n = Num(v)
	return nil
}

// Tag is a host, trigger or event tag.
type Tag struct {
	Tag   string `json:"tag"`
	Value string `json:"value"`
}

// HostGroup is a host group (in 6.0 templates live in host groups too).
type HostGroup struct {
	GroupID string `json:"groupid,omitempty"`
	Name    string `json:"name,omitempty"`
}

// TemplateRef names a template by ID (host.create's "templates", host.get's
// "parentTemplates").
type TemplateRef struct {
	TemplateID string `json:"templateid"`
	Host       string `json:"host,omitempty"`
}

// Interface types and flags (hostinterface object).
const (
	InterfaceAgent Num = 1
)

// Interface is a host interface. UseIP 1 connects to IP, 0 to DNS.
type Interface struct {
	InterfaceID string `json:"interfaceid,omitempty"`
	HostID      string `json:"hostid,omitempty"`
	Type        Num    `json:"type"`
	Main        Num    `json:"main"`
	UseIP       Num    `json:"useip"`
	IP          string `json:"ip"`
	DNS         string `json:"dns"`
	Port        string `json:"port"`
}

// Host is a host as host.get returns it with its groups, templates, interfaces and tags.
type Host struct {
	HostID          string        `json:"hostid,omitempty"`
	Host            string        `json:"host"`
	Description     string        `json:"description,omitempty"`
	Status          Num           `json:"status"`
	Groups          []HostGroup   `json:"groups,omitempty"`
	ParentTemplates []TemplateRef `json:"parentTemplates,omitempty"`
	Interfaces      []Interface   `json:"interfaces,omitempty"`
	Tags            []Tag         `json:"tags,omitempty"`
	Macros          []Macro       `json:"macros,omitempty"`
}

// Macro is a host-level user macro (a text one).
type Macro struct {
	HostMacroID string `json:"hostmacroid,omitempty"`
	HostID      string `json:"hostid,omitempty"`
	Macro       string `json:"macro"`
	Value       string `json:"value"`
}

// Script scopes, types and targets (script object).
const (
	ScriptScopeAction  Num = 1 // runs only as an action operation
	ScriptScopeHost    Num = 2 // manual host script: script.execute can run it
	ScriptTypeCustom   Num = 0 // a shell command
	ScriptOnAgent      Num = 0 // execute_on: the host's Zabbix agent
	ScriptAllHostGroup     = "0"
)

// Script is a global script.
type Script struct {
	ScriptID    string `json:"scriptid,omitempty"`
	Name        string `json:"name"`
	Command     string `json:"command"`
	Description string `json:"description"`
	Type        Num    `json:"type"`
	Scope       Num    `json:"scope"`
	ExecuteOn   Num    `json:"execute_on"`
	// GroupID limits the hosts the script may run on ("0": all).
	GroupID string `json:"groupid"`
}

// Action constants (action object, Zabbix 6.0).
const (
	EventSourceTrigger   Num = 0
	ActionEnabled        Num = 0
	ActionDisabled       Num = 1
	EvalAnd              Num = 1 // filter evaltype "and"
	CondSuppressed       Num = 16
	CondEventTagValue    Num = 26 // value = tag value, value2 = tag name
	CondOpEqual          Num = 0
	CondOpNo             Num = 11 // "is not" for CondSuppressed
	OperationRemoteShell Num = 1
)

// Condition is an action filter condition.
type Condition struct {
	ConditionType Num    `json:"conditiontype"`
	Operator      Num    `json:"operator"`
	Value         string `json:"value,omitempty"`
	Value2        string `json:"value2,omitempty"`
}

// ActionFilter is an action's filter.
type ActionFilter struct {
	EvalType   Num         `json:"evaltype"`
	Conditions []Condition `json:"conditions"`
}

// OpCommand names the global script an operation runs.
type OpCommand struct {
	ScriptID string `json:"scriptid"`
}

// OpHost is a target host of a remote command ("0": the host of the event).
type OpHost struct {
	HostID string `json:"hostid"`
}

// Operation is an action operation.
type Operation struct {
	OperationType Num       `json:"operationtype"`
	OpCommand     OpCommand `json:"opcommand"`
	OpCommandHst  []OpHost  `json:"opcommand_hst"`
}

// Action is a trigger action with its filter and operations.
type Action struct {
	ActionID    string       `json:"actionid,omitempty"`
	Name        string       `json:"name"`
	EventSource Num          `json:"eventsource"`
	Status      Num          `json:"status"`
	EscPeriod   string       `json:"esc_period,omitempty"`
	Filter      ActionFilter `json:"filter"`
	Operations  []Operation  `json:"operations"`
}

// ImportRule says what configuration.import may do with one kind of object.
type ImportRule struct {
	CreateMissing  bool `json:"createMissing,omitempty"`
	UpdateExisting bool `json:"updateExisting,omitempty"`
	DeleteMissing  bool `json:"deleteMissing,omitempty"`
}

// ImportRules are configuration.import's rules for the kinds of object a template file
// holds (6.0 names).
type ImportRules struct {
	Groups         ImportRule `json:"groups"`
	Templates      ImportRule `json:"templates"`
	Items          ImportRule `json:"items"`
	Triggers       ImportRule `json:"triggers"`
	DiscoveryRules ImportRule `json:"discoveryRules"`
	ValueMaps      ImportRule `json:"valueMaps"`
	Graphs         ImportRule `json:"graphs"`
	TemplateLinks  ImportRule `json:"templateLinkage"`
}

// ImportCompare asks configuration.importcompare (6.0+) what importing source would
// change. It returns nil when nothing would, else the server's description of the
// differences (added, updated, removed objects).
func (a *API) ImportCompare(ctx context.Context, format, source string, rules ImportRules) (json.RawMessage, error) {
	var diff json.RawMessage
	params := map[string]any{"format": format, "source": source, "rules": rules}
	if err := a.Call(ctx, "configuration.importcompare", params, &diff); err != nil {
		return nil, err
	}
	// No change is an empty array (PHP's empty array); changes are an object.
	var empty []any
	if json.Unmarshal(diff, &empty) == nil && len(empty) == 0 {
		return nil, nil
	}
	return diff, nil
}

// Import runs configuration.import.
func (a *API) Import(ctx context.Context, format, source string, rules ImportRules) error {
	params := map[string]any{"format": format, "source": source, "rules": rules}
	return a.Call(ctx, "configuration.import", params, nil)
}

// HostGroupsByName returns the host groups with these names (those that exist).
func (a *API) HostGroupsByName(ctx context.Context, names ...string) ([]HostGroup, error) {
	var gs []HostGroup
	params := map[string]any{"output": []string{"groupid", "name"}, "filter": map[string]any{"name": names}}
	if err := a.Call(ctx, "hostgroup.get", params, &gs); err != nil {
		return nil, err
	}
	return gs, nil
}

// CreateHostGroup creates a host group and returns its ID.
func (a *API) CreateHostGroup(ctx context.Context, name string) (string, error) {
	var r struct {
		GroupIDs []string `json:"groupids"`
	}
	if err := a.Call(ctx, "hostgroup.create", map[string]any{"name": name}, &r); err != nil {
		return "", err
	}
	if len(r.GroupIDs) != 1 {
		return "", fmt.Errorf("hostgroup.create %s: answer has %d IDs", name, len(r.GroupIDs))
	}
	return r.GroupIDs[0], nil
}

// TemplatesByName returns the templates with these technical names (those that exist).
func (a *API) TemplatesByName(ctx context.Context, names ...string) ([]TemplateRef, error) {
	var ts []TemplateRef
	params := map[string]any{"output": []string{"templateid", "host"}, "filter": map[string]any{"host": names}}
	if err := a.Call(ctx, "template.get", params, &ts); err != nil {
		return nil, err
	}
	return ts, nil
}

// HostsByName returns the hosts with these technical names, with their groups, linked
// templates, interfaces and tags.
func (a *API) HostsByName(ctx context.Context, names ...string) ([]Host, error) {
	return a.hosts(ctx, map[string]any{"filter": map[string]any{"host": names}})
}

// HostsByTag returns the hosts that have tag t with exactly its value, as HostsByName.
func (a *API) HostsByTag(ctx context.Context, t Tag) ([]Host, error) {
	return a.hosts(ctx, map[string]any{"evaltype": 0,
		"tags": []map[string]any{{"tag": t.Tag, "value": t.Value, "operator": 1}}}) // 1: equals
}

// hosts is host.get with sel (which hosts) and everything provisioning compares.
func (a *API) hosts(ctx context.Context, sel map[string]any) ([]Host, error) {
	var hs []Host
	params := map[string]any{
		"output":                []string{"hostid", "host", "description", "status"},
		"selectGroups":          []string{"groupid", "name"},
		"selectParentTemplates": []string{"templateid", "host"},
		"selectInterfaces":      []string{"interfaceid", "hostid", "type", "main", "useip", "ip", "dns", "port"},
		"selectTags":            []string{"tag", "value"},
		"selectMacros":          []string{"hostmacroid", "macro", "value"},
	}
	for k, v := range sel {
		params[k] = v
	}
	if err := a.Call(ctx, "host.get", params, &hs); err != nil {
		return nil, err
	}
	return hs, nil
}

// CreateHost creates h (Groups by GroupID, ParentTemplates sent as its templates) and
// returns its ID.
func (a *API) CreateHost(ctx context.Context, h Host) (string, error) {
	params := map[string]any{
		"host":        h.Host,
		"description": h.Description,
		"status":      h.Status,
		"groups":      groupIDs(h.Groups),
		"templates":   templateIDs(h.ParentTemplates),
		"interfaces":  h.Interfaces,
		"tags":        h.Tags,
	}
	if h.Macros != nil {
		params["macros"] = h.Macros
	}
	if h.Interfaces == nil {
		params["interfaces"] = []Interface{}
	}
	if h.Tags == nil {
		params["tags"] = []Tag{}
	}
	var r struct {
		HostIDs []string `json:"hostids"`
	}
	if err := a.Call(ctx, "host.create", params, &r); err != nil {
		return "", err
	}
	if len(r.HostIDs) != 1 {
		return "", fmt.Errorf("host.create %s: answer has %d IDs", h.Host, len(r.HostIDs))
	}
	return r.HostIDs[0], nil
}

// UpdateHost sets the groups, linked templates and tags of host h.HostID to exactly
// those of h (host.update replaces these lists; templates left out are unlinked but
// keep their items). Interfaces are left alone: see CreateInterface and UpdateInterface.
func (a *API) UpdateHost(ctx context.Context, h Host) error {
	params := map[string]any{
		"hostid":    h.HostID,
		"groups":    groupIDs(h.Groups),
		"templates": templateIDs(h.ParentTemplates),
		"tags":      h.Tags,
	}
	if h.Tags == nil {
		params["tags"] = []Tag{}
	}
	return a.Call(ctx, "host.update", params, nil)
}

// SetMacro gives host m.HostID the macro m: it creates it, or, when m.HostMacroID names
// the existing one, changes its value.
func (a *API) SetMacro(ctx context.Context, m Macro) error {
	if m.HostMacroID != "" {
		return a.Call(ctx, "usermacro.update", map[string]any{"hostmacroid": m.HostMacroID, "value": m.Value}, nil)
	}
	return a.Call(ctx, "usermacro.create", map[string]any{"hostid": m.HostID, "macro": m.Macro, "value": m.Value}, nil)
}

// CreateInterface adds an interface to host i.HostID.
func (a *API) CreateInterface(ctx context.Context, i Interface) error {
	i.InterfaceID = ""
	return a.Call(ctx, "hostinterface.create", i, nil)
}

// UpdateInterface changes interface i.InterfaceID to i.
func (a *API) UpdateInterface(ctx context.Context, i Interface) error {
	return a.Call(ctx, "hostinterface.update", i, nil)
}

// ScriptsByName returns the global scripts named name.
func (a *API) ScriptsByName(ctx context.Context, name string) ([]Script, error) {
	return a.scripts(ctx, map[string]any{"filter": map[string]any{"name": name}})
}

// ScriptsByNamePrefix returns the global scripts whose name starts with prefix.
func (a *API) ScriptsByNamePrefix(ctx context.Context, prefix string) ([]Script, error) {
	ss, err := a.scripts(ctx, byNamePrefix(prefix))
	return keepNamePrefix(ss, prefix, func(s Script) string { return s.Name }), err
}

// byNamePrefix selects objects whose name starts with prefix. Zabbix's search is a
// case-insensitive LIKE: keepNamePrefix checks the answer exactly.
func byNamePrefix(prefix string) map[string]any {
	return map[string]any{"search": map[string]any{"name": prefix}, "startSearch": true}
}

func keepNamePrefix[T any](list []T, prefix string, name func(T) string) []T {
	var out []T
	for _, x := range list {
		if strings.HasPrefix(name(x), prefix) {
			out = append(out, x)
		}
	}
	return out
}

func (a *API) scripts(ctx context.Context, sel map[string]any) ([]Script, error) {
	var ss []Script
	params := map[string]any{
		"output": []string{"scriptid", "name", "command", "description", "type", "scope", "execute_on", "groupid"},
	}
	for k, v := range sel {
		params[k] = v
	}
	if err := a.Call(ctx, "script.get", params, &ss); err != nil {
		return nil, err
	}
	return ss, nil
}

// CreateScript creates a global script and returns its ID.
func (a *API) CreateScript(ctx context.Context, s Script) (string, error) {
	s.ScriptID = ""
	var r struct {
		ScriptIDs []string `json:"scriptids"`
	}
	if err := a.Call(ctx, "script.create", s, &r); err != nil {
		return "", err
	}
	if len(r.ScriptIDs) != 1 {
		return "", fmt.Errorf("script.create %s: answer has %d IDs", s.Name, len(r.ScriptIDs))
	}
	return r.ScriptIDs[0], nil
}

// UpdateScript sets every field of script s.ScriptID to those of s.
func (a *API) UpdateScript(ctx context.Context, s Script) error {
	return a.Call(ctx, "script.update", s, nil)
}

// ActionsByName returns the actions named name, with their filter and operations.
func (a *API) ActionsByName(ctx context.Context, name string) ([]Action, error) {
	return a.actions(ctx, map[string]any{"filter": map[string]any{"name": name}})
}

// ActionsByNamePrefix returns the actions whose name starts with prefix.
func (a *API) ActionsByNamePrefix(ctx context.Context, prefix string) ([]Action, error) {
	as, err := a.actions(ctx, byNamePrefix(prefix))
	return keepNamePrefix(as, prefix, func(x Action) string { return x.Name }), err
}

func (a *API) actions(ctx context.Context, sel map[string]any) ([]Action, error) {
	var as []Action
	params := map[string]any{
		"output":           []string{"actionid", "name", "eventsource", "status", "esc_period"},
		"selectFilter":     "extend",
		"selectOperations": "extend",
	}
	for k, v := range sel {
		params[k] = v
	}
	if err := a.Call(ctx, "action.get", params, &as); err != nil {
		return nil, err
	}
	return as, nil
}

// CreateAction creates an action and returns its ID.
func (a *API) CreateAction(ctx context.Context, act Action) (string, error) {
	act.ActionID = ""
	var r struct {
		ActionIDs []string `json:"actionids"`
	}
	if err := a.Call(ctx, "action.create", act, &r); err != nil {
		return "", err
	}
	if len(r.ActionIDs) != 1 {
		return "", fmt.Errorf("action.create %s: answer has %d IDs", act.Name, len(r.ActionIDs))
	}
	return r.ActionIDs[0], nil
}

// UpdateAction replaces the name, filter and operations of action act.ActionID; its
// status is left as it is (an operator may have disabled it on purpose).
func (a *API) UpdateAction(ctx context.Context, act Action) error {
	params := map[string]any{
		"actionid":   act.ActionID,
		"name":       act.Name,
		"filter":     act.Filter,
		"operations": act.Operations,
	}
	return a.Call(ctx, "action.update", params, nil)
}

// Item is an item as item.get returns it.
type Item struct {
	ItemID    string `json:"itemid"`
	HostID    string `json:"hostid"`
	Key       string `json:"key_"`
	Name      string `json:"name"`
	Type      Num    `json:"type"`
	ValueType Num    `json:"value_type"`
	// State 1 means not supported; Error says why.
	State     Num    `json:"state"`
	Error     string `json:"error"`
	LastValue string `json:"lastvalue"`
	LastClock Num    `json:"lastclock"`
	LastNS    Num    `json:"lastns"`
}

// ItemsOfHost returns the items of host (technical name) whose key is one of keys, or
// all of its items when keys is empty.
func (a *API) ItemsOfHost(ctx context.Context, host string, keys ...string) ([]Item, error) {
	params := map[string]any{
		"output": []string{"itemid", "hostid", "key_", "name", "type", "value_type", "state", "error", "lastvalue", "lastclock", "lastns"},
		"host":   host,
	}
	if len(keys) > 0 {
		params["filter"] = map[string]any{"key_": keys}
	}
	var items []Item
	if err := a.Call(ctx, "item.get", params, &items); err != nil {
		return nil, err
	}
	return items, nil
}

// Problem is an open (or recently resolved) problem event.
type Problem struct {
	EventID  string `json:"eventid"`
	ObjectID string `json:"objectid"` // the trigger
	Name     string `json:"name"`
	Clock    Num    `json:"clock"`
	REventID string `json:"r_eventid"`
	Tags     []Tag  `json:"tags"`
}

// ProblemsWithTags returns the problems whose tags include every one of tags (tag =
// value, exact), oldest first. recent also returns problems resolved within the
// server's "Display OK triggers" period.
func (a *API) ProblemsWithTags(ctx context.Context, tags []Tag, recent bool) ([]Problem, error) {
	var filter []map[string]any
	for _, t := range tags {
		filter = append(filter, map[string]any{"tag": t.Tag, "value": t.Value, "operator": 1}) // 1: equals
	}
	params := map[string]any{
		"output":     []string{"eventid", "objectid", "name", "clock", "r_eventid"},
		"selectTags": []string{"tag", "value"},
		"tags":       filter,
		"evaltype":   0, // and/or: every tag must match
		"recent":     recent,
		"sortfield":  []string{"eventid"},
		"sortorder":  "ASC",
	}
	var ps []Problem
	if err := a.Call(ctx, "problem.get", params, &ps); err != nil {
		return nil, err
	}
	return ps, nil
}

func groupIDs(gs []HostGroup) []map[string]string {
	out := make([]map[string]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, map[string]string{"groupid": g.GroupID})
	}
	return out
}

func templateIDs(ts []TemplateRef) []map[string]string {
	out := make([]map[string]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, map[string]string{"templateid": t.TemplateID})
	}
	return out
}

// HostID returns the ID of the host with this technical name.
func (a *API) HostID(ctx context.Context, host string) (string, error) {
	var hs []struct {
		HostID string `json:"hostid"`
	}
	params := map[string]any{"output": []string{"hostid"}, "filter": map[string]any{"host": []string{host}}}
	if err := a.Call(ctx, "host.get", params, &hs); err != nil {
		return "", err
	}
	if len(hs) != 1 {
		return "", fmt.Errorf("%d hosts named %s", len(hs), host)
	}
	return hs[0].HostID, nil
}

// ErrTokenRefused: Zabbix 6.0's script.execute fails with HTTP 500 when called with an
// API token: its frontend's executeScript needs a session ID that a token does not
// have. A user login (zabbix.username, password_file) works.
var ErrTokenRefused = errors.New("script.execute refused an API token (Zabbix 6.0 needs a user session: give zabbix.username and password_file instead of api_token_file)")

// ScriptResult is script.execute's answer.
type ScriptResult struct {
	// Response is "success" when the script ran (its exit code may still be non-zero).
	Response string `json:"response"`
	// Value is the script's output.
	Value string `json:"value"`
}

// ExecuteScript runs global script scriptID on host hostID and waits for its output.
// With an API token, an HTTP 500 answer is ErrTokenRefused (besides the *HTTPError);
// an expired session is ErrSessionExpired.
func (a *API) ExecuteScript(ctx context.Context, scriptID, hostID string) (ScriptResult, error) {
	var res ScriptResult
	err := a.Call(ctx, "script.execute", map[string]any{"scriptid": scriptID, "hostid": hostID}, &res)
	var he *HTTPError
	if err != nil && !a.session && errors.As(err, &he) && he.Code == http.StatusInternalServerError {
		return res, fmt.Errorf("%w: %w", ErrTokenRefused, err)
	}
	return res, err
}

// AckAction is event.acknowledge's "action", a sum of flags (Zabbix 6.0 API, event
// object).
type AckAction int

// Acknowledge flags.
const (
	AckClose       AckAction = 1
	AckAcknowledge AckAction = 2
	AckMessage     AckAction = 4
	AckSeverity    AckAction = 8
	AckUnack       AckAction = 16
)

// maxAckMessage: event.acknowledge refuses longer messages.
const maxAckMessage = 2048

// Acknowledge updates event eventID with action; a message (for AckMessage) longer than
// the server accepts is cut.
func (a *API) Acknowledge(ctx context.Context, eventID string, action AckAction, message string) error {
	params := map[string]any{"eventids": eventID, "action": int(action)}
	if action&AckMessage != 0 {
		if len(message) > maxAckMessage {
			message = message[:maxAckMessage]
		}
		params["message"] = message
	}
	return a.Call(ctx, "event.acknowledge", params, nil)
}

// Availability is what Zabbix knows of a host's reachability from its interfaces.
type Availability int

// Availabilities; the strings are those of fencing's evidence.
const (
	AvailabilityUnknown Availability = iota
	Reachable
	Unreachable
)

func (v Availability) String() string {
	switch v {
	case Reachable:
		return "reachable"
	case Unreachable:
		return "unreachable"
	}
	return "availability unknown"
}

// HostStatus is a host's availability and maintenance.
type HostStatus struct {
	Availability Availability
	// Maintenance: the host is in a maintenance period (maintenance_status 1).
	Maintenance bool
}

// hostStatus reads host.get's maintenance_status and interfaces' "available" (6.0: 0
// unknown, 1 available, 2 unavailable). A host is unreachable when it has interfaces,
// none available and one unavailable.
func hostStatus(maintenance string, available []string) HostStatus {
	st := HostStatus{Maintenance: maintenance == "1"}
	anyUp, anyDown := false, false
	for _, v := range available {
		anyUp = anyUp || v == "1"
		anyDown = anyDown || v == "2"
	}
	switch {
	case anyUp:
		st.Availability = Reachable
	case anyDown:
		st.Availability = Unreachable
	}
	return st
}

// ErrNoHost: no host has the name asked for.
var ErrNoHost = errors.New("no such host")

// HostStatus returns the availability and maintenance of the host with this technical
// name, or ErrNoHost.
func (a *API) HostStatus(ctx context.Context, host string) (HostStatus, error) {
	var hosts []struct {
		MaintenanceStatus string `json:"maintenance_status"`
		Interfaces        []struct {
			Available string `json:"available"`
		} `json:"interfaces"`
	}
	params := map[string]any{
		"output":           []string{"maintenance_status"},
		"selectInterfaces": []string{"available"},
		"filter":           map[string]any{"host": host},
	}
	if err := a.Call(ctx, "host.get", params, &hosts); err != nil {
		return HostStatus{}, err
	}
	if len(hosts) == 0 {
		return HostStatus{}, ErrNoHost
	}
	var avail []string
	for _, i := range hosts[0].Interfaces {
		avail = append(avail, i.Available)
	}
	return hostStatus(hosts[0].MaintenanceStatus, avail), nil
}

// LastValue returns the last value of item key on host and when it was taken (its
// clock, as the sender gave it), and false when the item does not exist or has no value
// yet (lastclock 0). Fencing weighs evidence by that time.
func (a *API) LastValue(ctx context.Context, host, key string) (string, time.Time, bool, error) {
	items, err := a.ItemsOfHost(ctx, host, key)
	if err != nil || len(items) == 0 || items[0].LastClock == 0 {
		return "", time.Time{}, false, err
	}
	return items[0].LastValue, time.Unix(int64(items[0].LastClock), int64(items[0].LastNS)), true, nil
}

// Event is an event's timing and state, from event.get.
type Event struct {
	EventID string `json:"eventid"`
	Clock   Num    `json:"clock"`
	NS      Num    `json:"ns"`
	// Value is 1 for a problem event, 0 for an OK one.
	Value Num `json:"value"`
	// REventID is the event that resolved this problem ("0" or "": not resolved).
	REventID string `json:"r_eventid"`
}

// Time is when the event happened: for a problem, when it began.
func (e Event) Time() time.Time { return time.Unix(int64(e.Clock), int64(e.NS)) }

// Resolved reports whether a problem event has been resolved.
func (e Event) Resolved() bool { return e.REventID != "" && e.REventID != "0" }

// ErrNoEvent: no event has the ID asked for (never existed, or deleted by housekeeping).
var ErrNoEvent = errors.New("no such event")

// Event returns the event with this ID, or ErrNoEvent.
func (a *API) Event(ctx context.Context, id string) (Event, error) {
	var evs []Event
	params := map[string]any{"eventids": []string{id}, "output": []string{"eventid", "clock", "ns", "value", "r_eventid"}}
	if err := a.Call(ctx, "event.get", params, &evs); err != nil {
		return Event{}, err
	}
	if len(evs) == 0 {
		return Event{}, fmt.Errorf("event %s: %w", id, ErrNoEvent)
	}
	return evs[0], nil
}

// Delete deletes objects of one kind by ID: kind is the API's object name ("action",
// "script", "host", "hostgroup"), whose delete method takes a list of IDs.
func (a *API) Delete(ctx context.Context, kind string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return a.Call(ctx, kind+".delete", ids, nil)
}

// Stored reports, for each of values, whether Zabbix's history holds it: a value of
// that host's item with exactly that clock (seconds and nanoseconds). A sender whose
// request's reply was lost, or that was killed before it recorded the reply, learns
// this way what the server took, so that it sends nothing twice. A value without a
// clock, of an item that keeps no history (a discovery rule) or of a host or item
// that does not exist is reported not stored: the caller sends it again, which such
// values bear. The history syncer writes to the database about every second, so a
// value taken a moment ago may not show yet.
func (a *API) Stored(ctx context.Context, values []Value) ([]bool, error) {
	out := make([]bool, len(values))
	type stamp struct {
		item      string
		clock, ns int64
	}
	keys := map[string][]string{} // host -> keys
	for _, v := range values {
		if !v.Clock.IsZero() && !slices.Contains(keys[v.Host], v.Key) {
			keys[v.Host] = append(keys[v.Host], v.Key)
		}
	}
	items := map[pairKey]Item{}
	for host, ks := range keys {
		its, err := a.ItemsOfHost(ctx, host, ks...)
		if err != nil {
			return nil, fmt.Errorf("items of %s: %w", host, err)
		}
		for _, it := range its {
			items[pairKey{host, it.Key}] = it
		}
	}
	// One history.get per value type, over the values' span of time.
	type span struct {
		ids      []string
		from, to int64
	}
	spans := map[int]*span{}
	for _, v := range values {
		it, ok := items[pairKey{v.Host, v.Key}]
		if !ok || v.Clock.IsZero() {
			continue
		}
		s := spans[int(it.ValueType)]
		if s == nil {
			s = &span{from: v.Clock.Unix(), to: v.Clock.Unix()}
			spans[int(it.ValueType)] = s
		}
		if !slices.Contains(s.ids, it.ItemID) {
			s.ids = append(s.ids, it.ItemID)
		}
		s.from, s.to = min(s.from, v.Clock.Unix()), max(s.to, v.Clock.Unix())
	}
	have := map[stamp]bool{}
	for vt, s := range spans {
		var h []struct {
			ItemID string `json:"itemid"`
			Clock  Num    `json:"clock"`
			NS     Num    `json:"ns"`
		}
		params := map[string]any{"history": vt, "itemids": s.ids, "time_from": s.from, "time_till": s.to,
			"output": []string{"itemid", "clock", "ns"}}
		if err := a.Call(ctx, "history.get", params, &h); err != nil {
			return nil, fmt.Errorf("history of %d items: %w", len(s.ids), err)
		}
		for _, r := range h {
			have[stamp{r.ItemID, int64(r.Clock), int64(r.NS)}] = true
		}
	}
	for i, v := range values {
		if it, ok := items[pairKey{v.Host, v.Key}]; ok && !v.Clock.IsZero() {
			out[i] = have[stamp{it.ItemID, v.Clock.Unix(), int64(v.Clock.Nanosecond())}]
		}
	}
	return out, nil
}
