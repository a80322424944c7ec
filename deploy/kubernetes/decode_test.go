// Package kubernetes_test validates deploy/kubernetes offline, without a
// cluster: every file decodes strictly into the Kubernetes (k8s.io/api)
// or Kustomize type its apiVersion and kind name, every kustomization's
// references exist and every file is referenced, and each layout, built
// with the Kustomize library kubectl embeds, passes the checks in
// layouts_test.go. This is a module of its own so that the k8s modules
// stay out of the outrider binary and the main go.mod. Run it from the
// repository root with
//
//	cd deploy/kubernetes && go test -count=1 ./...
package kubernetes_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// kinds maps "apiVersion kind" to a new typed object. A kind missing here
// fails the test: add its type rather than let it through unchecked.
var kinds = map[string]func() any{
	"apps/v1 Deployment":                            func() any { return &appsv1.Deployment{} },
	"v1 Service":                                    func() any { return &corev1.Service{} },
	"v1 ServiceAccount":                             func() any { return &corev1.ServiceAccount{} },
	"v1 ConfigMap":                                  func() any { return &corev1.ConfigMap{} },
	"v1 Secret":                                     func() any { return &corev1.Secret{} },
	"policy/v1 PodDisruptionBudget":                 func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2 HorizontalPodAutoscaler":        func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"rbac.authorization.k8s.io/v1 Role":             func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1 RoleBinding":      func() any { return &rbacv1.RoleBinding{} },
	"kustomize.config.k8s.io/v1beta1 Kustomization": func() any { return &kusttypes.Kustomization{} },
	"kustomize.config.k8s.io/v1alpha1 Component":    func() any { return &kusttypes.Kustomization{} },
}

// object is one decoded YAML document.
type object struct {
	key  string // "apiVersion kind"
	name string
	obj  any // one of the kinds' types
}

// decodeAll decodes every document of a YAML stream strictly.
func decodeAll(data []byte) ([]object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []object
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		o, err := decodeStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		out = append(out, o)
	}
}

// decodeStrict converts one YAML document to JSON (duplicate keys fail)
// and decodes it into the type its apiVersion and kind select, as the API
// server's strict field validation does: an unknown field, a duplicate
// one or a field spelled in another case fails (sigs.k8s.io/json is the
// decoder Kubernetes itself uses; encoding/json would accept
// "ReadOnlyRootFileSystem" for readOnlyRootFilesystem).
func decodeStrict(doc []byte) (object, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return object{}, err
	}
	var tm struct {
		metav1.TypeMeta
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
		return object{}, err
	}
	key := tm.APIVersion + " " + tm.Kind
	mk, ok := kinds[key]
	if !ok {
		return object{}, fmt.Errorf("unknown apiVersion/kind %q (name %q)", key, tm.Metadata.Name)
	}
	obj := mk()
	strict, err := sigsjson.UnmarshalStrict(j, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return object{}, fmt.Errorf("%s %s: %w", key, tm.Metadata.Name, err)
	}
	if len(strict) > 0 {
		return object{}, fmt.Errorf("%s %s: %w", key, tm.Metadata.Name, errors.Join(strict...))
	}
	return object{key: key, name: tm.Metadata.Name, obj: obj}, nil
}

// stripComments drops whole-line comments, so a document of comments
// only counts as empty.
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
