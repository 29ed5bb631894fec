module gwd

go 1.26.8

require github.com/netsampler/goflow2/v2 v2.2.6

require (
	github.com/google/go-cmp v0.7.0
	github.com/gopacket/gopacket v1.7.7
	github.com/vishvananda/netlink v1.3.1
	github.com/vishvananda/netns v0.0.5 // indirect
	golang.org/x/net v0.55.0 // indirect
	golang.org/x/sys v0.45.0
	gopkg.in/yaml.v3 v3.0.1
)
