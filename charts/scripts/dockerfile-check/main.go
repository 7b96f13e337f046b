// dockerfile-check: parses and lints Dockerfiles with BuildKit's own Dockerfile frontend, the code
// `docker build --check` runs, without a Docker engine. It reports parse errors, instruction errors and
// every BuildKit lint rule violation (undefined variables, stage names, casing, JSON-args form, ...) and
// exits 1 if there is any. Build args: --build-arg NAME=value (repeatable), then Dockerfile paths.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/client/llb/sourceresolver"
	digest "github.com/opencontainers/go-digest"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
)

// offlineResolver answers image-config lookups without a registry (no network here): a plain Linux
// config, so the frontend checks the Dockerfile itself. It records which images the build would pull.
type offlineResolver struct{ refs []string }

func (r *offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	r.refs = append(r.refs, ref)
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}}`)
	return ref, digest.FromBytes(cfg), cfg, nil
}

func main() {
	buildArgs := map[string]string{}
	var files []string
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		if args[i] == "--build-arg" && i+1 < len(args) {
			k, v, _ := strings.Cut(args[i+1], "=")
			buildArgs[k] = v
			i++
			continue
		}
		files = append(files, args[i])
	}
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-check [--build-arg K=V]... Dockerfile...")
		os.Exit(2)
	}
	failed := false
	for _, f := range files {
		bad := false
		dt, err := os.ReadFile(f)
		if err != nil {
			fmt.Printf("%s: %v\n", f, err)
			failed = true
			continue
		}
		resolver := &offlineResolver{}
		sm := llb.NewSourceMap(nil, f, "Dockerfile", dt)
		sm.Definition = &llb.Definition{}
		res, err := dockerfile2llb.DockerfileLint(context.Background(), dt, dockerfile2llb.ConvertOpt{
			Config:       dockerui.Config{BuildArgs: buildArgs},
			SourceMap:    sm,
			MetaResolver: resolver,
		})
		if err != nil {
			fmt.Printf("%s: ERROR %v\n", f, err)
			failed = true
			continue
		}
		if res.Error != nil {
			fmt.Printf("%s: ERROR %s\n", f, res.Error.Message)
			bad = true
		}
		for _, w := range res.Warnings {
			line := 0
			if len(w.Location.Ranges) > 0 {
				line = int(w.Location.Ranges[0].Start.Line)
			}
			fmt.Printf("%s:%d: %s: %s\n", f, line, w.RuleName, w.Detail)
			bad = true
		}
		fmt.Printf("%s: images: %s\n", f, strings.Join(resolver.refs, " "))
		if bad {
			failed = true
		} else {
			fmt.Printf("%s: ok\n", f)
		}
	}
	if failed {
		os.Exit(1)
	}
}
