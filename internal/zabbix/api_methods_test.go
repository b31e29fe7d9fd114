package zabbix

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNum(t *testing.T) {
	tests := []struct {
		in   string
		want Num
		err  bool
	}{
		{`"1"`, 1, false}, {`1`, 1, false}, {`"0"`, 0, false}, {`""`, 0, false}, {`null`, 0, false},
		{`"12345"`, 12345, false}, {`"x"`, 0, true}, {`1.5`, 0, true},
	}
	for _, tt := range tests {
		var n Num
		err := json.Unmarshal([]byte(tt.in), &n)
		if (err != nil) != tt.err || n != tt.want {
			t.Errorf("%s: got %d, %v; want %d, error %v", tt.in, n, err, tt.want, tt.err)
		}
	}
	b, _ := json.Marshal(struct{ N Num }{3})
	if string(b) != `{"N":3}` {
		t.Errorf("marshal: %s", b)
	}
}

// TestImportCompare: Zabbix answers "no change" with an empty array (PHP's empty
// array) and changes with an object.
func TestImportCompare(t *testing.T) {
	answer := `[]`
	srv, _ := fakeAPI(t, "6.0.14", func(method string) string {
		return `{"jsonrpc":"2.0","result":` + answer + `,"id":1}`
	})
	a, err := NewAPI(context.Background(), APIOptions{URL: srv.URL, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	diff, err := a.ImportCompare(context.Background(), "yaml", "x", ImportRules{})
	if err != nil || diff != nil {
		t.Fatalf("no change: %s, %v", diff, err)
	}
	answer = `{"templates":{"updated":[]}}`
	diff, err = a.ImportCompare(context.Background(), "yaml", "x", ImportRules{})
	if err != nil || string(diff) != answer {
		t.Fatalf("change: %s, %v", diff, err)
	}
}

// TestHostDecode: host.get's answer, numbers as strings, decodes into Host.
func TestHostDecode(t *testing.T) {
	raw := `{"hostid":"10574","host":"standby","description":"","status":"0",
		"groups":[{"groupid":"29","name":"vcrcovery standbys"}],
		"parentTemplates":[{"templateid":"10565","host":"vcrcovery standby"}],
		"interfaces":[{"interfaceid":"7","hostid":"10574","type":"1","main":"1","useip":"1","ip":"127.0.0.1","dns":"","port":"20050"}],
		"tags":[{"tag":"vcr.role","value":"standby"}]}`
	var h Host
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		t.Fatal(err)
	}
	want := Host{
		HostID: "10574", Host: "standby",
		Groups:          []HostGroup{{GroupID: "29", Name: "vcrcovery standbys"}},
		ParentTemplates: []TemplateRef{{TemplateID: "10565", Host: "vcrcovery standby"}},
		Interfaces:      []Interface{{InterfaceID: "7", HostID: "10574", Type: InterfaceAgent, Main: 1, UseIP: 1, IP: "127.0.0.1", Port: "20050"}},
		Tags:            []Tag{{Tag: "vcr.role", Value: "standby"}},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
