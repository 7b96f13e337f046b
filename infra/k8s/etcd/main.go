// etcd v3.6 as a plain binary: `go install go.etcd.io/etcd/server/v3@v3.6.16` is refused because that
// module's go.mod has replace directives, so this wrapper requires the etcd modules and calls etcdmain.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
