// Package secret reads secrets (TSIG keys, Zabbix API tokens, SNMP communities and
// passphrases) from files and keeps them out of logs.
//
// A secret file readable or writable by group or others is refused: a TSIG key that
// anyone on the standby VM can read lets anyone repoint the service's DNS name.
package secret

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrLoosePermissions is returned for a secret file that group or others may access.
var ErrLoosePermissions = errors.New("readable or writable by group or others")

// Secret is a string that never prints: fmt, slog and YAML/JSON encoders see "<secret>".
// Call Reveal where the value is really needed (on the wire, in a MAC).
type Secret string

const redacted = "<secret>"

// String returns a placeholder, so %v and %s never leak the value.
func (s Secret) String() string { return redacted }

// GoString returns a placeholder for %#v.
func (s Secret) GoString() string { return redacted }

// MarshalText returns a placeholder, so JSON, YAML and slog never leak the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// CheckFile verifies that path is a regular file that only its owner may access.
func CheckFile(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("secret file %s: not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("secret file %s is %w (mode %04o): run chmod 600 %s",
			path, ErrLoosePermissions, perm, path)
	}
	return nil
}

// ReadFile reads a secret from path after CheckFile. Surrounding white space (the newline
// that `echo` and editors add) is trimmed; an empty secret is an error.
func ReadFile(path string) (Secret, error) {
	b, err := ReadFileBytes(path)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("secret file %s: empty", path)
	}
	return Secret(v), nil
}

// ReadFileBytes reads a whole secret file (such as a BIND key file) after CheckFile.
func ReadFileBytes(path string) ([]byte, error) {
	if err := CheckFile(path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	return b, nil
}

// ReadLines reads a secret file holding one value per line (an SNMP community
// allow-list); blank lines and lines starting with # are ignored.
func ReadLines(path string) ([]Secret, error) {
	b, err := ReadFileBytes(path)
	if err != nil {
		return nil, err
	}
	var out []Secret
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, Secret(line))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("secret file %s: no values", path)
	}
	return out, nil
}
