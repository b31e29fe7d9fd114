package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FieldError is one problem in the inventory, at the field named by Path
// (e.g. services[1].probe.ports[0]; empty for the file as a whole).
type FieldError struct {
	Path string
	Msg  string
}

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Errors is every problem found in one inventory; Load returns it as its error.
type Errors []FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads the inventory at path, decodes it and builds its typed form. Relative file names inside
// it (key files, token files) are taken relative to the inventory's folder. A returned
// error wraps Errors when the file was read but is not valid.
func Load(path string) (*Inventory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	inv, err := Parse(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", path, err)
	}
	return inv, nil
}

// Parse decodes an inventory and builds its typed form; baseDir anchors relative file
// names.
func Parse(b []byte, baseDir string) (*Inventory, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{Msg: "empty inventory"}}
		}
		return nil, Errors{{Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, Errors{{Msg: "more than one YAML document; an inventory is one"}}
	}

	// Walk the tree first: yaml.v3 reports unknown keys and type mismatches by line
	// only, and an operator wants the field's path.
	w := walker{lines: map[int][]scalarAt{}}
	w.check(&root, reflect.TypeOf(rawInventory{}), "")
	if len(w.errs) > 0 {
		return nil, w.errs
	}

	var raw rawInventory
	if err := root.Decode(&raw); err != nil {
		return nil, w.pathify(err)
	}
	inv, errs := build(&raw, baseDir)
	if len(errs) > 0 {
		return nil, errs
	}
	return inv, nil
}

// walker checks a YAML node tree against the Go types it will decode into.
type walker struct {
	errs  Errors
	lines map[int][]scalarAt // field paths of the scalars on each line, for pathify
}

// scalarAt is a scalar's value and field path; a line may hold several (flow style).
type scalarAt struct{ value, path string }

func (w *walker) check(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 1 {
			w.check(n.Content[0], t, path)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		// Anchors and aliases are fine; check the aliased node under this path.
		w.check(n.Alias, t, path)
		return
	}
	if path != "" {
		w.lines[n.Line] = append(w.lines[n.Line], scalarAt{n.Value, path})
	}
	if n.Tag == "!!null" {
		return // an empty value keeps the default
	}
	// A pointer to a struct marks an optional section (nil when the file leaves it out).
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.errs = append(w.errs, FieldError{orRoot(path), fmt.Sprintf("must be a mapping, got %s (line %d)", kindName(n), n.Line)})
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			p := join(path, k.Value)
			if !ok {
				w.errs = append(w.errs, FieldError{p, fmt.Sprintf("unknown field (line %d); known fields: %s", k.Line, knownList(fields))})
				continue
			}
			w.check(v, ft, p)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.errs = append(w.errs, FieldError{orRoot(path), fmt.Sprintf("must be a list, got %s (line %d)", kindName(n), n.Line)})
			return
		}
		for i, c := range n.Content {
			w.check(c, t.Elem(), path+"["+strconv.Itoa(i)+"]")
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.errs = append(w.errs, FieldError{orRoot(path), fmt.Sprintf("must be a single value, got %s (line %d)", kindName(n), n.Line)})
		}
	}
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// pathify turns yaml.v3's "line N: cannot unmarshal ..." errors into path-named ones.
func (w *walker) pathify(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return Errors{{Msg: err.Error()}}
	}
	var out Errors
	for _, e := range te.Errors {
		m := lineRE.FindStringSubmatch(e)
		if m == nil {
			out = append(out, FieldError{Msg: e})
			continue
		}
		line, _ := strconv.Atoi(m[1])
		msg := strings.Replace(m[2], "cannot unmarshal", "cannot decode", 1)
		out = append(out, FieldError{w.pathAt(line, msg), fmt.Sprintf("%s (line %d)", msg, line)})
	}
	return out
}

var valueRE = regexp.MustCompile("`([^`]*)`")

// pathAt finds the field a type error is about: the scalar on that line whose value the
// message quotes, else the line's innermost field.
func (w *walker) pathAt(line int, msg string) string {
	at := w.lines[line]
	if len(at) == 0 {
		return ""
	}
	if m := valueRE.FindStringSubmatch(msg); m != nil {
		for _, s := range at {
			if s.value == m[1] {
				return s.path
			}
		}
	}
	return at[len(at)-1].path
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			m[name] = f.Type
		}
	}
	return m
}

func knownList(fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}
