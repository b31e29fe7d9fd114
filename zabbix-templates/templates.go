// Package templates embeds vcrcovery's Zabbix 6.0 templates, the YAML export files
// beside this file, so that vcr-provision imports exactly what the repository holds.
// The files are also meant to be imported by hand (Data collection > Templates >
// Import); README.md in this folder documents them.
package templates

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"gopkg.in/yaml.v3"
)

//go:embed *.yaml
var files embed.FS

// Template is one template file.
type Template struct {
	// Name is the template's technical name ("vcrcovery hypervisor").
	Name string
	// File is the file name ("vcrcovery-hypervisor.yaml").
	File string
	// Source is the file's YAML, as configuration.import takes it.
	Source []byte
}

// Names of the templates, as vcr-provision links them to hosts.
const (
	Hypervisor = "vcrcovery hypervisor"
	Standby    = "vcrcovery standby"
	Trapd      = "vcrcovery trapd"
	Cloud      = "vcrcovery cloud"
	Pooled     = "vcrcovery pooled service"
)

// All returns every embedded template, sorted by file name. A file must hold exactly
// one template.
func All() ([]Template, error) {
	names, err := fs.Glob(files, "*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Template, 0, len(names))
	for _, f := range names {
		b, err := files.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Export struct {
				Version   string `yaml:"version"`
				Templates []struct {
					Template string `yaml:"template"`
				} `yaml:"templates"`
			} `yaml:"zabbix_export"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("template file %s: %w", f, err)
		}
		if n := len(doc.Export.Templates); n != 1 {
			return nil, fmt.Errorf("template file %s: holds %d templates, want 1", f, n)
		}
		out = append(out, Template{Name: doc.Export.Templates[0].Template, File: f, Source: b})
	}
	return out, nil
}
