package kubernetes_test

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	kusttypes "sigs.k8s.io/kustomize/api/types"
)

// notManifest reports the files of this directory that Kustomize never reads.
func notManifest(path string) bool {
	return strings.HasSuffix(path, ".go") || path == "go.mod" || path == "go.sum"
}

// tree lists the files of deploy/kubernetes (slash paths, relative),
// manifests and env files, and the directories holding a kustomization.
func tree(t *testing.T) (files []string, kustomizations []string) {
	t.Helper()
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || notManifest(p) {
			return nil
		}
		p = filepath.ToSlash(p)
		if filepath.Base(p) == "kustomization.yaml" {
			kustomizations = append(kustomizations, filepath.ToSlash(filepath.Dir(p)))
			return nil
		}
		files = append(files, p)
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, kustomizations)
	return files, kustomizations
}

// TestFilesDecodeStrictly decodes every YAML file — kustomizations,
// resources and patches alike — strictly into its type, and reads every
// env file as OUTRIDER_* settings the node knows.
func TestFilesDecodeStrictly(t *testing.T) {
	files, dirs := tree(t)
	for _, d := range dirs {
		files = append(files, d+"/kustomization.yaml")
	}
	flags := serveFlags(t)
	for _, p := range files {
		t.Run(p, func(t *testing.T) {
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			switch filepath.Ext(p) {
			case ".yaml":
				objs, err := decodeAll(data)
				require.NoError(t, err)
				require.NotEmpty(t, objs, "no object in %s", p)
			case ".env":
				for name := range envFile(t, data) {
					require.Contains(t, flags.names, name, "%s sets %s, which `outrider serve --help` does not list", p, name)
				}
			default:
				t.Fatalf("%s: neither .yaml nor .env; Kustomize would not read it as written", p)
			}
		})
	}
}

var envLine = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)

// envFile reads a configMapGenerator env file: KEY=VALUE lines and
// comments.
func envFile(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := envLine.FindStringSubmatch(line)
		require.NotNil(t, m, "not KEY=VALUE: %q", line)
		out[m[1]] = m[2]
	}
	require.NoError(t, sc.Err())
	return out
}

// TestKustomizationsReferenceEveryFile: what each kustomization names
// exists, every file is named by some kustomization (a file nobody
// references is a manifest that is never applied), and every
// kustomization directory is an overlay or a component — the entry
// points deploy/README.md names — or is included by another.
func TestKustomizationsReferenceEveryFile(t *testing.T) {
	files, dirs := tree(t)
	referenced := map[string]bool{}
	for _, dir := range dirs {
		data, err := os.ReadFile(dir + "/kustomization.yaml")
		require.NoError(t, err)
		objs, err := decodeAll(data)
		require.NoError(t, err)
		require.Len(t, objs, 1, dir)
		k := objs[0].obj.(*kusttypes.Kustomization)
		var paths []string
		paths = append(paths, k.Resources...)
		paths = append(paths, k.Components...)
		for _, p := range k.Patches {
			require.NotEmpty(t, p.Path, "%s: inline patches are not used here; put the patch in a file", dir)
			paths = append(paths, p.Path)
		}
		for _, g := range k.ConfigMapGenerator {
			paths = append(paths, g.EnvSources...)
			paths = append(paths, g.FileSources...)
		}
		for _, g := range k.SecretGenerator {
			paths = append(paths, g.EnvSources...)
			paths = append(paths, g.FileSources...)
		}
		require.Empty(t, k.PatchesStrategicMerge, "%s: patchesStrategicMerge is deprecated; use patches", dir)
		require.Empty(t, k.PatchesJson6902, "%s: patchesJson6902 is deprecated; use patches", dir)
		for _, p := range paths {
			target := filepath.ToSlash(filepath.Clean(filepath.Join(dir, p)))
			st, err := os.Stat(target)
			require.NoError(t, err, "%s/kustomization.yaml names %s", dir, p)
			if st.IsDir() {
				_, err := os.Stat(target + "/kustomization.yaml")
				require.NoError(t, err, "%s/kustomization.yaml names directory %s, which has no kustomization.yaml", dir, p)
			}
			referenced[target] = true
		}
	}
	for _, f := range files {
		require.True(t, referenced[f], "%s is named by no kustomization.yaml, so no layout applies it", f)
	}
	for _, d := range dirs {
		entry := slices.Contains([]string{"overlays", "components"}, filepath.Dir(d))
		require.True(t, entry || referenced[d], "%s is neither an overlay nor a component, and no kustomization includes it", d)
	}
}
