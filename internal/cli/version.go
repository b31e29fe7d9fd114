package cli

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Build is what a binary knows about the source it was built from, read from the
// build information the Go toolchain stamps into every binary (runtime/debug): the
// main module's version (a tag, or a pseudo-version made from the VCS revision; "(devel)"
// when the toolchain could not tell) and the VCS settings of `go build -buildvcs`.
// On-call staff and Zabbix (the daemons' vcr.*.version items) read it to tell which
// build runs where.
type Build struct {
	Version  string // main module version, e.g. v0.0.0-20261203053244-b9bffa3c0d1e
	Revision string // vcs.revision, the full commit hash; "" when not stamped
	Time     string // vcs.time, the commit's time (RFC 3339)
	Modified bool   // vcs.modified: built from a tree with uncommitted changes
	Go       string // the toolchain, e.g. go1.26.0
}

// What the Makefile passes to the linker (-X) from git, for the builds the toolchain
// cannot stamp: go finds no VCS in a git worktree (its .git is a file), and leaves the
// main module's version "(devel)" there. The toolchain's own stamp wins when present.
var linkVersion, linkRevision, linkTime, linkModified string

// ReadBuild returns this binary's Build. A binary built without module support (never
// the case with the Makefile) has Version "unknown".
func ReadBuild() Build {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Build{Version: "unknown"}
	}
	return fromBuildInfo(bi, linkVersion, linkRevision, linkTime, linkModified)
}

// fromBuildInfo reads bi's version and VCS settings, falling back to the linker's
// values (ReadBuild) for those it lacks.
func fromBuildInfo(bi *debug.BuildInfo, version, revision, time, modified string) Build {
	b := Build{Version: bi.Main.Version, Go: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	if (b.Version == "" || b.Version == "(devel)") && version != "" {
		b.Version = version
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if b.Revision == "" && revision != "" {
		b.Revision, b.Time, b.Modified = revision, time, modified == "true"
	}
	return b
}

// String is the one line --version prints and the daemons send to Zabbix:
// "v0.0.0-2026...-b9bffa3c0d1e revision b9bffa3c0d1e... (modified) 2026-12-03T05:32:44Z go1.26.0".
func (b Build) String() string {
	parts := []string{b.Version}
	if b.Revision != "" {
		r := "revision " + b.Revision
		if b.Modified {
			r += " (modified)"
		}
		parts = append(parts, r)
	} else {
		parts = append(parts, "revision unknown")
	}
	if b.Time != "" {
		parts = append(parts, b.Time)
	}
	if b.Go != "" {
		parts = append(parts, b.Go)
	}
	return strings.Join(parts, " ")
}

// LogArgs are the slog attributes of the daemons' start line.
func (b Build) LogArgs() []any {
	return []any{"version", b.Version, "revision", b.Revision, "modified", b.Modified}
}

// versionLine is what `PROG --version` prints.
func versionLine(prog string) string { return fmt.Sprintf("%s %s\n", prog, ReadBuild()) }
