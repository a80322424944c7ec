package main_test

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestMakeRunCompilesTheBinarysStandardLibrary checks the Makefile's
// STD_ROOTS, the standard-library packages `make run` compiles while the
// modules download: together with what they import they must be every
// standard-library package the binary needs (a missing one is compiled
// only after the download), and each must be one the binary uses (an extra
// one costs compile time for nothing).
func TestMakeRunCompilesTheBinarysStandardLibrary(t *testing.T) {
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^STD_ROOTS :=((?:.*\\\n)*.*)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("no STD_ROOTS := … in the Makefile")
	}
	roots := strings.Fields(strings.ReplaceAll(string(m[1]), "\\\n", " "))

	needed := stdDeps(t, ".")
	covered := stdDeps(t, roots...)
	for _, p := range needed {
		if !slices.Contains(covered, p) {
			t.Errorf("the binary needs %s, which no package in the Makefile's STD_ROOTS imports: add its importer", p)
		}
	}
	for _, r := range roots {
		if !slices.Contains(needed, r) {
			t.Errorf("STD_ROOTS lists %s, which the binary does not use: remove it", r)
		}
	}
}

// stdDeps lists the standard-library packages among pkgs and their
// dependencies, as `make run` builds them (no cgo).
func stdDeps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	args := append([]string{"list", "-deps", "-f", "{{if .Standard}}{{.ImportPath}}{{end}}"}, pkgs...)
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}
