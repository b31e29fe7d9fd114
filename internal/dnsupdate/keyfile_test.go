package dnsupdate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

const goodKey = `key "ddns-key" {
	algorithm hmac-sha256;
	secret "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==";
};
`

func TestParseKeyFile(t *testing.T) {
	got, err := ParseKeyFile([]byte(goodKey))
	if err != nil {
		t.Fatal(err)
	}
	want := Key{Name: "ddns-key.", Algorithm: dns.HmacSHA256, Secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}

func TestParseKeyFileComments(t *testing.T) {
	in := "# made by tsig-keygen\n// another\n/* block\ncomment */ key ddns.example. { algorithm HMAC-SHA512; secret \"AAAA\"; };\n"
	got, err := ParseKeyFile([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "ddns.example." || got.Algorithm != dns.HmacSHA512 {
		t.Fatalf("got %+v", got)
	}
}

func TestParseKeyFileErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no key statement"},
		{"not a key", "options { };", `line 1: want "key", got "options"`},
		{"no algorithm", `key "k" { secret "AAAA"; };`, `key "k.": no algorithm`},
		{"no secret", `key "k" { algorithm hmac-sha256; };`, `key "k.": no secret`},
		{"bad algorithm", `key "k" { algorithm rot13; secret "AAAA"; };`, `line 1: unsupported algorithm "rot13"`},
		{"bad base64", `key "k" { algorithm hmac-sha256; secret "!!!"; };`, "secret is not valid base64"},
		{"unknown option", `key "k" { algorithm hmac-sha256; color "red"; };`, `unknown key option "color"`},
		{"missing semicolon", "key \"k\" {\n algorithm hmac-sha256\n secret \"AAAA\"; };", `line 3: want ";", got "secret"`},
		{"truncated", `key "k" { algorithm hmac-sha256; secret "AAAA";`, `unexpected end of file`},
		{"unterminated string", `key "k`, "line 1: unterminated string"},
		{"two keys", goodKey + goodKey, "2 key statements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKeyFile([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestReadKeyFileRefusesLoosePermissions(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k.key")
	if err := os.WriteFile(p, []byte(goodKey), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(p); err != nil {
		t.Fatalf("0600 key: %v", err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadKeyFile(p)
	if err == nil || !strings.Contains(err.Error(), "readable or writable by group or others") {
		t.Fatalf("0644 key: err = %v", err)
	}
	if strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatal("error leaks the secret")
	}
}

// FuzzParseKeyFile: a key file is outside input; garbage must give an error, never a
// panic, and never an error that echoes a secret it accepted.
func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte(goodKey))
	f.Add([]byte("/* x */ key k { algorithm hmac-md5; secret \"AA==\"; };"))
	f.Add([]byte("key \"\" {"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKeyFile(b)
		if err == nil && (k.Name == "" || k.Algorithm == "" || k.Secret == "") {
			t.Fatalf("accepted an incomplete key: %+v", k)
		}
	})
}
