// Regenerates the conversion golden files with the reference implementation (Debian's
// golang-github-appc-cni-dev, pkg/types), so CNITests compare our conversions with Go's:
//   cd Tests/CNITests/Golden && GOPATH=/usr/share/gocode GO111MODULE=off go run generate.go
// Writes from-<v>.json (the canonical result as version v prints it) and
// <from>-to-<to>.json (that result converted), or <from>-to-<to>.error with the error text.
// 1.1.0 is not known to that library; its pairs are checked by hand-written tests.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	_ "github.com/containernetworking/cni/pkg/types/020"
	_ "github.com/containernetworking/cni/pkg/types/040"
	_ "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/types/create"
)

const canonical = `{
  "cniVersion": "1.0.0",
  "interfaces": [
    {"name": "cni0", "mac": "0a:58:0a:01:00:01"},
    {"name": "eth0", "mac": "0a:58:0a:01:00:05", "sandbox": "/var/run/netns/pod1"}
  ],
  "ips": [
    {"interface": 1, "address": "10.1.0.5/16", "gateway": "10.1.0.1"},
    {"interface": 1, "address": "2001:db8:1::5/64", "gateway": "2001:db8:1::1"},
    {"interface": 1, "address": "192.168.7.9/24"}
  ],
  "routes": [
    {"dst": "0.0.0.0/0", "gw": "10.1.0.1"},
    {"dst": "172.16.0.0/12"},
    {"dst": "::/0", "gw": "2001:db8:1::1"}
  ],
  "dns": {"nameservers": ["10.1.0.53"], "domain": "example.com", "search": ["example.com", "svc.example.com"], "options": ["ndots:5"]}
}`

// L2 only: an interface and no address.
const l2only = `{"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "mac": "0a:58:0a:01:00:05", "sandbox": "/var/run/netns/pod1"}], "dns": {"nameservers": ["10.1.0.53"]}}`

var versions = []string{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"}

func write(name string, v interface{}) {
	data, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(name, append(data, '\n'), 0644); err != nil {
		panic(err)
	}
}

func generate(prefix, source string) {
	base, err := create.CreateFromBytes([]byte(source))
	if err != nil {
		panic(err)
	}
	for _, from := range versions {
		r, err := base.GetAsVersion(from)
		if err != nil {
			os.WriteFile(fmt.Sprintf("%sfrom-%s.error", prefix, from), []byte(err.Error()+"\n"), 0644)
			continue
		}
		write(fmt.Sprintf("%sfrom-%s.json", prefix, from), r)
		for _, to := range versions {
			c, err := r.GetAsVersion(to)
			if err != nil {
				os.WriteFile(fmt.Sprintf("%s%s-to-%s.error", prefix, from, to), []byte(err.Error()+"\n"), 0644)
				continue
			}
			write(fmt.Sprintf("%s%s-to-%s.json", prefix, from, to), c)
		}
	}
}

func main() {
	generate("", canonical)
	generate("l2-", l2only)
}
