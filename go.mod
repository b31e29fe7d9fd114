module github.com/vcrcovery/vcrcovery

go 1.26

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/gosnmp/gosnmp v1.47.0 // indirect
	github.com/miekg/dns v1.1.73 // indirect
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
