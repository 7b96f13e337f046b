// skaffold v2.19.0 (the first release with the skaffold/v4beta14 schema) as a plain binary:
// `go install` of skaffold is refused because its go.mod has replace directives, so this wrapper
// repeats them and runs skaffold's own entry point (cmd/skaffold, without the optional Cloud profiler).
package main

import (
	"context"
	"errors"
	"os"

	"github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold/app"
	"github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/instrumentation"
)

func main() {
	var code int
	if err := app.Run(os.Stdout, os.Stderr); err != nil && !errors.Is(err, context.Canceled) {
		code = app.ExitCode(err)
	}
	instrumentation.ShutdownAndFlush(context.Background(), code)
	os.Exit(code)
}
