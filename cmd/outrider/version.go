package main

import (
	"fmt"
	"io"

	"github.com/outrider/outrider/cmd/outrider/app"
)

// Set at link time, e.g.
//
//	go build -ldflags "-X main.version=v1.4.0 -X main.revision=$(git rev-parse HEAD) -X main.buildTime=$(date -u +%FT%TZ)"
//
// Empty values fall back to what Go stamped into the binary
// (app.ReadBuild): the module version and the VCS commit and its time.
// An image built from a context without .git needs the -X values.
var version, revision, buildTime string

// build is this binary's build.
func build() app.Build { return app.ReadBuild(version, revision, buildTime) }

// versionCmd prints the build: `outrider version`.
func versionCmd(w io.Writer) error {
	b := build()
	t := b.Time
	if t == "" {
		t = "unknown"
	}
	_, err := fmt.Fprintf(w, "outrider %s\ncommit:     %s\nbuilt:      %s\ngo version: %s\n", b.Version, b.Revision, t, b.GoVersion)
	return err
}
