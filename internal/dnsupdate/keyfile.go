// Package dnsupdate switches a service's DNS name with RFC 2136 dynamic updates signed
// with TSIG (RFC 8945, formerly RFC 2845; secured updates per RFC 3007).
package dnsupdate

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"

	"github.com/miekg/dns"

	"github.com/vcrcovery/vcrcovery/internal/secret"
)

// Key is a TSIG key as BIND's tsig-keygen writes it.
type Key struct {
	// Name is the key name as a fully qualified domain name ("ddns-key.").
	Name string
	// Algorithm is the miekg/dns algorithm name, e.g. dns.HmacSHA256.
	Algorithm string
	// Secret is the base64 secret.
	Secret secret.Secret
}

var algorithms = map[string]string{
	"hmac-md5":    dns.HmacMD5,
	"hmac-sha1":   dns.HmacSHA1,
	"hmac-sha224": dns.HmacSHA224,
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
}

// ReadKeyFile reads a key file after checking that only its owner can read it.
func ReadKeyFile(path string) (Key, error) {
	b, err := secret.ReadFileBytes(path)
	if err != nil {
		return Key{}, fmt.Errorf("read TSIG key: %w", err)
	}
	k, err := ParseKeyFile(b)
	if err != nil {
		return Key{}, fmt.Errorf("TSIG key file %s: %w", path, err)
	}
	return k, nil
}

// ParseKeyFile parses the one key statement of a BIND key file:
//
//	key "ddns-key" {
//		algorithm hmac-sha256;
//		secret "base64...";
//	};
//
// Comments in the three BIND styles (#, //, /* */) are allowed. Errors never include the
// secret.
func ParseKeyFile(b []byte) (Key, error) {
	toks, err := tokenize(string(b))
	if err != nil {
		return Key{}, err
	}
	p := parser{toks: toks}
	var keys []Key
	for !p.done() {
		k, err := p.key()
		if err != nil {
			return Key{}, err
		}
		keys = append(keys, k)
	}
	switch len(keys) {
	case 0:
		return Key{}, fmt.Errorf("no key statement")
	case 1:
		return keys[0], nil
	default:
		return Key{}, fmt.Errorf("%d key statements; the file must hold exactly one", len(keys))
	}
}

type token struct {
	text   string
	quoted bool
	line   int
}

func tokenize(s string) ([]token, error) {
	var out []token
	line := 1
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			line++
			i++
		case c < 0x80 && unicode.IsSpace(rune(c)):
			i++
		case c == '#' || strings.HasPrefix(s[i:], "//"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated /* comment", line)
			}
			line += strings.Count(s[i:i+2+end], "\n")
			i += end + 4
		case c == '{' || c == '}' || c == ';':
			out = append(out, token{text: string(c), line: line})
			i++
		case c == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated string", line)
			}
			out = append(out, token{text: s[i+1 : i+1+end], quoted: true, line: line})
			line += strings.Count(s[i+1:i+1+end], "\n")
			i += end + 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n{};\"#", rune(s[j])) && !strings.HasPrefix(s[j:], "//") && !strings.HasPrefix(s[j:], "/*") {
				j++
			}
			out = append(out, token{text: s[i:j], line: line})
			i = j
		}
	}
	return out, nil
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) done() bool { return p.pos >= len(p.toks) }

func (p *parser) next(what string) (token, error) {
	if p.done() {
		line := 1
		if len(p.toks) > 0 {
			line = p.toks[len(p.toks)-1].line
		}
		return token{}, fmt.Errorf("line %d: unexpected end of file, want %s", line, what)
	}
	t := p.toks[p.pos]
	p.pos++
	return t, nil
}

func (p *parser) expect(text string) error {
	t, err := p.next(fmt.Sprintf("%q", text))
	if err != nil {
		return err
	}
	if t.text != text || t.quoted {
		return fmt.Errorf("line %d: want %q, got %q", t.line, text, shorten(t.text))
	}
	return nil
}

func (p *parser) key() (Key, error) {
	if err := p.expect("key"); err != nil {
		return Key{}, err
	}
	name, err := p.next("key name")
	if err != nil {
		return Key{}, err
	}
	if name.text == "" || name.text == "{" {
		return Key{}, fmt.Errorf("line %d: key name missing", name.line)
	}
	if _, ok := dns.IsDomainName(name.text); !ok {
		return Key{}, fmt.Errorf("line %d: key name %q is not a domain name", name.line, shorten(name.text))
	}
	if err := p.expect("{"); err != nil {
		return Key{}, err
	}
	k := Key{Name: dns.CanonicalName(name.text)}
	var secretText string
	for {
		t, err := p.next(`"algorithm", "secret" or "}"`)
		if err != nil {
			return Key{}, err
		}
		if t.text == "}" && !t.quoted {
			break
		}
		v, err := p.next("a value for " + t.text)
		if err != nil {
			return Key{}, err
		}
		switch t.text {
		case "algorithm":
			alg, ok := algorithms[strings.ToLower(v.text)]
			if !ok {
				return Key{}, fmt.Errorf("line %d: unsupported algorithm %q (want one of hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512)", v.line, shorten(v.text))
			}
			k.Algorithm = alg
		case "secret":
			secretText = v.text
		default:
			return Key{}, fmt.Errorf("line %d: unknown key option %q", t.line, shorten(t.text))
		}
		if err := p.expect(";"); err != nil {
			return Key{}, err
		}
	}
	if err := p.expect(";"); err != nil {
		return Key{}, err
	}
	if k.Algorithm == "" {
		return Key{}, fmt.Errorf("key %q: no algorithm", k.Name)
	}
	if secretText == "" {
		return Key{}, fmt.Errorf("key %q: no secret", k.Name)
	}
	raw, err := base64.StdEncoding.DecodeString(secretText)
	if err != nil || len(raw) == 0 {
		return Key{}, fmt.Errorf("key %q: secret is not valid base64", k.Name)
	}
	k.Secret = secret.Secret(secretText)
	return k, nil
}

// shorten keeps an error readable when the input is garbage.
func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
