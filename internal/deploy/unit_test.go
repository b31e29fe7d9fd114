package deploy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseUnit(t *testing.T) {
	src := `# comment
[Unit]
Description=x %i

[Service]
; another comment
ExecStart=/usr/bin/a -b \
  -c d
Environment=A=1
Environment=B=2
CapabilityBoundingSet=CAP_X
CapabilityBoundingSet=
`
	u, err := ParseUnit("x@.service", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string][]string{
		"Unit":    {"Description": {"x %i"}},
		"Service": {"ExecStart": {"/usr/bin/a -b -c d"}, "Environment": {"A=1", "B=2"}, "CapabilityBoundingSet": nil},
	}
	if diff := cmp.Diff(want, u.Sections); diff != "" {
		t.Errorf("sections (-want +got)\n%s", diff)
	}
	if !u.Template() {
		t.Error("x@.service is a template")
	}
	for _, bad := range []string{"Key=1\n", "[Unit\n", "[Unit]\nnokey\n", "[Unit]\nA=b \\\n"} {
		if _, err := ParseUnit("bad.service", strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		in, instance string
		want         []string
		wantErr      string
	}{
		{"/usr/local/bin/vcr-trapd -config /etc/x.yaml -mode listen", "", []string{"/usr/local/bin/vcr-trapd", "-config", "/etc/x.yaml", "-mode", "listen"}, ""},
		{"-/bin/a -host %i", "big", []string{"/bin/a", "-host", "big"}, ""},
		{`+/bin/a "two words" 'x y' 100%%`, "", []string{"/bin/a", "two words", "x y", "100%"}, ""},
		{`/bin/a a\ b`, "", []string{"/bin/a", "a b"}, ""},
		{"/bin/a %n", "", nil, "specifier %n"},
		{"/bin/a $HOME", "", nil, "environment variables"},
		{`/bin/a "open`, "", nil, "unterminated"},
		{"  ", "", nil, "empty"},
	}
	for _, tt := range tests {
		got, err := Command(tt.in, tt.instance)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Command(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Command(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Command(%q) (-want +got)\n%s", tt.in, diff)
		}
	}
	if diff := cmp.Diff([]string{"config", "sync", "standby", "log-level", "x"}, Flags([]string{"/bin/a", "-config", "/p", "-sync", "-standby", "s", "--log-level=warn", "-x"})); diff != "" {
		t.Errorf("Flags (-want +got)\n%s", diff)
	}
}
