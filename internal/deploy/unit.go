// Package deploy reads what `make install` ships for systemd, so that tests can hold
// the units to the binaries they start: unit files in the subset of systemd.syntax(7)
// the project writes (sections, key=value, comments, backslash continuations), and
// their command lines split as systemd.service(5) "Command lines" does, with the
// instance specifiers of template units expanded.
package deploy

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Unit is one parsed unit file: per section, per key, the values in file order (a key
// may repeat, and an empty assignment resets the list, as systemd does).
type Unit struct {
	Name     string // file name, e.g. vcr-pool@.service
	Sections map[string]map[string][]string
}

// ParseUnit reads a unit file. Errors name the line.
func ParseUnit(name string, r io.Reader) (*Unit, error) {
	u := &Unit{Name: name, Sections: map[string]map[string][]string{}}
	sc := bufio.NewScanner(r)
	section, n, pending := "", 0, ""
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		// A trailing backslash continues the value on the next line (systemd.syntax(7)).
		if strings.HasSuffix(line, `\`) {
			pending += strings.TrimSpace(strings.TrimSuffix(line, `\`)) + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s:%d: bad section header %q", name, n, line)
			}
			section = line[1 : len(line)-1]
			if u.Sections[section] == nil {
				u.Sections[section] = map[string][]string{}
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, fmt.Errorf("%s:%d: want key=value inside a section, got %q", name, n, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if value == "" {
			u.Sections[section][key] = nil
			continue
		}
		u.Sections[section][key] = append(u.Sections[section][key], value)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if pending != "" {
		return nil, fmt.Errorf("%s: ends inside a continued line", name)
	}
	return u, nil
}

// Values returns a key's values in a section (nil when unset).
func (u *Unit) Values(section, key string) []string { return u.Sections[section][key] }

// Template reports whether the unit is a template (name@.service), started as
// name@INSTANCE.service.
func (u *Unit) Template() bool { return strings.Contains(u.Name, "@.") }

// Command splits an Exec*= value into its words, as systemd does: the special
// prefixes ("-", "@", ":", "+", "!") dropped, double and single quotes grouping, and
// the specifiers %i, %I (instance) and %% expanded. Other specifiers and $VARIABLES
// are refused: the project's units use none, and a test cannot know their values.
func Command(value, instance string) ([]string, error) {
	value = strings.TrimLeft(value, "-@:+!")
	var words []string
	var cur strings.Builder
	inWord, quote := false, rune(0)
	rs := []rune(value)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote, inWord = c, true
		case quote == 0 && (c == ' ' || c == '\t'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			inWord = true
		case c == '%':
			if i+1 >= len(rs) {
				return nil, fmt.Errorf("command %q: %% at the end", value)
			}
			i++
			switch rs[i] {
			case 'i', 'I':
				cur.WriteString(instance)
			case '%':
				cur.WriteRune('%')
			default:
				return nil, fmt.Errorf("command %q: specifier %%%c is not supported here", value, rs[i])
			}
			inWord = true
		case c == '$' && quote != '\'':
			return nil, fmt.Errorf("command %q: environment variables are not supported here", value)
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("command %q: unterminated quote", value)
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return words, nil
}

// Flags returns the names of the flags a command line gives (-name, --name or
// -name=value), in order; the other words are flag values.
func Flags(args []string) []string {
	var out []string
	for _, a := range args {
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		name := strings.TrimLeft(a, "-")
		name, _, _ = strings.Cut(name, "=")
		out = append(out, name)
	}
	return out
}
