package kubernetes_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// layout is one way of installing: an overlay, or an overlay with a
// component added (as deploy/README.md tells an operator to add it).
type layout struct {
	name      string
	overlay   string // directory under deploy/kubernetes
	component string // "" or a directory under deploy/kubernetes
}

// layouts are every overlay, alone and with each component.
func layouts(t *testing.T) []layout {
	t.Helper()
	var out []layout
	overlays, err := filepath.Glob("overlays/*/kustomization.yaml")
	require.NoError(t, err)
	components, err := filepath.Glob("components/*/kustomization.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, overlays)
	for _, o := range overlays {
		o = filepath.ToSlash(filepath.Dir(o))
		out = append(out, layout{name: filepath.Base(o), overlay: o})
		for _, c := range components {
			c = filepath.ToSlash(filepath.Dir(c))
			out = append(out, layout{name: filepath.Base(o) + "+" + filepath.Base(c), overlay: o, component: c})
		}
	}
	return out
}

// rendered is what `kubectl apply -k` would send, by kind.
type rendered struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	accounts    map[string]*corev1.ServiceAccount
	configMaps  map[string]*corev1.ConfigMap
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	roles       map[string]*rbacv1.Role
	bindings    []*rbacv1.RoleBinding
	namespaces  map[string]bool // of every object
}

// render builds a layout with the Kustomize library kubectl embeds, on a
// copy of deploy/kubernetes in memory (a component is added through a
// kustomization written there, never on disk), then decodes the output
// strictly.
func render(t *testing.T, l layout) rendered {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	const root = "/k"
	files, dirs := tree(t)
	for _, d := range dirs {
		files = append(files, d+"/kustomization.yaml")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, mem.WriteFile(root+"/"+f, data))
	}
	dir := root + "/" + l.overlay
	if l.component != "" {
		// As deploy/README.md says: the overlay lists the component.
		k, err := mem.ReadFile(dir + "/kustomization.yaml")
		require.NoError(t, err)
		require.NotContains(t, string(k), "\ncomponents:", "%s lists components already", l.overlay)
		k = append(k, []byte("\ncomponents:\n  - ../../"+l.component+"\n")...)
		require.NoError(t, mem.WriteFile(dir+"/kustomization.yaml", k))
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, dir)
	require.NoError(t, err, "kustomize build %s", l.name)
	y, err := m.AsYaml()
	require.NoError(t, err)
	objs, err := decodeAll(y)
	require.NoError(t, err, "the built %s does not decode strictly:\n%s", l.name, y)

	r := rendered{accounts: map[string]*corev1.ServiceAccount{}, configMaps: map[string]*corev1.ConfigMap{},
		roles: map[string]*rbacv1.Role{}, namespaces: map[string]bool{}}
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			r.deployments = append(r.deployments, v)
			r.namespaces[v.Namespace] = true
		case *corev1.Service:
			r.services = append(r.services, v)
			r.namespaces[v.Namespace] = true
		case *corev1.ServiceAccount:
			r.accounts[v.Name] = v
			r.namespaces[v.Namespace] = true
		case *corev1.ConfigMap:
			r.configMaps[v.Name] = v
			r.namespaces[v.Namespace] = true
		case *policyv1.PodDisruptionBudget:
			r.pdbs = append(r.pdbs, v)
			r.namespaces[v.Namespace] = true
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpas = append(r.hpas, v)
			r.namespaces[v.Namespace] = true
		case *rbacv1.Role:
			r.roles[v.Name] = v
			r.namespaces[v.Namespace] = true
		case *rbacv1.RoleBinding:
			r.bindings = append(r.bindings, v)
			r.namespaces[v.Namespace] = true
		default:
			t.Fatalf("%s: the build holds a %s (%s) that no check here looks at", l.name, o.key, o.name)
		}
	}
	return r
}

// namespace is the one namespace of every object.
func (r rendered) namespace(t *testing.T) string {
	t.Helper()
	var ns []string
	for n := range r.namespaces {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	require.Len(t, ns, 1, "objects in namespaces %q: an overlay sets one", strings.Join(ns, ", "))
	require.NotEmpty(t, ns[0], "objects without a namespace: the overlay sets none")
	return ns[0]
}
