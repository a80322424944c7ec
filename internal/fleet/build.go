package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build compiles ./cmd/outrider of the module the working directory is in
// (`go env GOMOD`) into dir/outrider, with the race detector when race is
// set, and returns the binary's path.
func Build(ctx context.Context, race bool, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("fleet: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("fleet: not inside a Go module: run from the outrider module")
	}
	bin, err := filepath.Abs(filepath.Join(dir, "outrider"))
	if err != nil {
		return "", fmt.Errorf("fleet: %w", err)
	}
	args := []string{"build"}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "-o", bin, "./cmd/outrider")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Dir(gomod)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("fleet: go %s: %w\n%s", strings.Join(args, " "), err, msg)
	}
	return bin, nil
}
