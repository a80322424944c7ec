package sdk_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/outrider/outrider/e2e"
)

// TestTypeScriptSDK runs clients/typescript's checks and tests (npm test:
// the build under tsc --strict, the every-field program, the lifecycle,
// a realtime resume after a dropped socket, …) against a real
// `outrider dev`.
func TestTypeScriptSDK(t *testing.T) {
	root := e2e.ModuleRoot(t)
	pkg := filepath.Join(root, "clients", "typescript")
	e2e.RequireNodeJS(t, "the TypeScript SDK's tests")

	// Alone it takes under a minute; make test runs every package at once.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	// The install and the generated-types check need no node: run them
	// while the binary builds.
	bin := e2e.BuildOutriderWhile(ctx, t, root, func() {
		e2e.NPMInstall(ctx, t, pkg)
		e2e.NPM(ctx, t, pkg, nil, "run", "check:generated")
	})

	n := e2e.StartDev(t, bin)
	admin := n.Demo(t, "admin", "")
	e2e.NPM(ctx, t, pkg, []string{
		"OUTRIDER_URL=" + n.URL,
		"OUTRIDER_ADMIN_EMAIL=" + admin.Email,
		"OUTRIDER_ADMIN_PASSWORD=" + admin.Password,
	}, "test")
}
