// A minimal cnitool over Debian's libcni (golang-github-appc-cni-dev), built offline in GOPATH
// mode by the integration tests, to check that our cnitool and libcni-based runtimes can each
// DEL what the other added (same result cache, same container ID). Same interface as upstream
// cnitool for add/check/del; CNI_CACHE_DIR selects the cache directory as in ours.
package main

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: gocnitool add|check|del <net> <netns>")
		os.Exit(2)
	}
	netdir := os.Getenv("NETCONFPATH")
	if netdir == "" {
		netdir = "/etc/cni/net.d"
	}
	list, err := libcni.LoadConfList(netdir, os.Args[2])
	fail(err)

	var caps map[string]interface{}
	if v := os.Getenv("CAP_ARGS"); v != "" {
		fail(json.Unmarshal([]byte(v), &caps))
	}
	var args [][2]string
	if v := os.Getenv("CNI_ARGS"); v != "" {
		for _, pair := range strings.Split(v, ";") {
			kv := strings.Split(pair, "=")
			if len(kv) != 2 {
				fail(fmt.Errorf("invalid CNI_ARGS pair %q", pair))
			}
			args = append(args, [2]string{kv[0], kv[1]})
		}
	}
	ifName, ok := os.LookupEnv("CNI_IFNAME")
	if !ok {
		ifName = "eth0"
	}
	netns, err := filepath.Abs(os.Args[3])
	fail(err)
	sum := sha512.Sum512([]byte(netns))
	rt := &libcni.RuntimeConf{
		ContainerID:    fmt.Sprintf("cnitool-%x", sum[:10]),
		NetNS:          netns,
		IfName:         ifName,
		Args:           args,
		CapabilityArgs: caps,
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), os.Getenv("CNI_CACHE_DIR"), nil)
	ctx := context.TODO()
	switch os.Args[1] {
	case "add":
		result, err := cni.AddNetworkList(ctx, list, rt)
		if result != nil {
			_ = result.Print()
		}
		fail(err)
	case "check":
		fail(cni.CheckNetworkList(ctx, list, rt))
	case "del":
		fail(cni.DelNetworkList(ctx, list, rt))
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}
