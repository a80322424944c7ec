package kubernetes_test

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// minGraceHeadroom is what terminationGracePeriodSeconds must leave
// beyond the preStop sleep and the node's drain, for closing NATS and the
// Postgres pool after the drain budget, and exiting.
const minGraceHeadroom = 5 * time.Second

// TestLayouts builds every layout and checks what a broken install would
// get wrong: probes, security, termination, membership, selectors,
// budgets, autoscalers, RBAC and every OUTRIDER_* name.
func TestLayouts(t *testing.T) {
	flags := serveFlags(t)
	verbs := providerVerbs(t)
	secretKeys := readmeSecretKeys(t)
	for _, l := range layouts(t) {
		t.Run(l.name, func(t *testing.T) {
			r := render(t, l)
			ns := r.namespace(t)
			require.NotEmpty(t, r.deployments)
			nodes := make([]node, 0, len(r.deployments))
			for _, d := range r.deployments {
				nodes = append(nodes, nodeOf(t, r, d, flags))
			}
			for _, n := range nodes {
				t.Run(n.d.Name, func(t *testing.T) {
					checkProbes(t, n)
					checkSecurity(t, n)
					checkTermination(t, n)
					checkMembership(t, r, n, ns, verbs)
					checkSecrets(t, n, secretKeys)
					checkWorkload(t, r, n)
				})
			}
			checkServices(t, r, nodes)
			// Each role is played by exactly one Deployment: a layout that
			// meant to split and did not, or a role nobody plays, fails.
			for _, role := range []string{"api", "worker"} {
				var by []string
				for _, n := range nodes {
					if slices.Contains(n.roles, role) {
						by = append(by, n.d.Name)
					}
				}
				require.Len(t, by, 1, "role %s is played by %q", role, by)
			}
		})
	}
}

// node is one node Deployment with the settings its container gets.
type node struct {
	d        *appsv1.Deployment
	c        corev1.Container
	settings map[string]string // OUTRIDER_* from the ConfigMap, then env; flag defaults where unset
	env      []corev1.EnvVar
	roles    []string
}

func nodeOf(t *testing.T, r rendered, d *appsv1.Deployment, flags nodeFlags) node {
	t.Helper()
	spec := d.Spec.Template.Spec
	require.Len(t, spec.Containers, 1, "%s: one container, the node", d.Name)
	c := spec.Containers[0]
	n := node{d: d, c: c, env: c.Env, settings: map[string]string{}}
	for _, src := range c.EnvFrom {
		require.NotNil(t, src.ConfigMapRef, "%s: envFrom only from the ConfigMap (secrets by key, in env)", d.Name)
		cm, ok := r.configMaps[src.ConfigMapRef.Name]
		require.True(t, ok, "%s: envFrom names ConfigMap %s, which the build does not hold", d.Name, src.ConfigMapRef.Name)
		for k, v := range cm.Data {
			require.Contains(t, flags.names, k, "ConfigMap %s sets %s, which `outrider serve --help` does not list", cm.Name, k)
			n.settings[k] = v
		}
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "OUTRIDER_") {
			require.Contains(t, flags.names, e.Name, "%s sets %s, which `outrider serve --help` does not list", d.Name, e.Name)
		}
		if e.ValueFrom == nil {
			n.settings[e.Name] = e.Value
		} else {
			n.settings[e.Name] = fmt.Sprintf("<from %s>", e.ValueFrom.String())
		}
	}
	for k, v := range flags.defaults {
		if _, set := n.settings[k]; !set {
			n.settings[k] = v
		}
	}
	n.roles = splitList(n.settings["OUTRIDER_ROLES"])
	require.NotEmpty(t, n.roles, "%s: no roles", d.Name)
	return n
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// port is the container port of that name.
func (n node) port(t *testing.T, name string) int32 {
	t.Helper()
	for _, p := range n.c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("%s: no container port named %q", n.d.Name, name)
	return 0
}

// checkProbes: liveness and startup on /healthz, readiness on /readyz,
// all on the named port http, which is the port the node listens on.
func checkProbes(t *testing.T, n node) {
	_, p, err := net.SplitHostPort(n.settings["OUTRIDER_HTTP_ADDR"])
	require.NoError(t, err, "OUTRIDER_HTTP_ADDR %q", n.settings["OUTRIDER_HTTP_ADDR"])
	require.Equal(t, p, strconv.Itoa(int(n.port(t, "http"))), "the port named http is not the one OUTRIDER_HTTP_ADDR listens on")
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  string
		must  bool
	}{
		{"liveness", n.c.LivenessProbe, "/healthz", true},
		{"readiness", n.c.ReadinessProbe, "/readyz", true},
		{"startup", n.c.StartupProbe, "/healthz", false},
	} {
		if pr.probe == nil {
			require.False(t, pr.must, "no %s probe", pr.name)
			continue
		}
		g := pr.probe.HTTPGet
		require.NotNil(t, g, "%s probe is not an HTTP GET", pr.name)
		require.Equal(t, pr.path, g.Path, "%s probe path", pr.name)
		require.Equal(t, intstr.FromString("http"), g.Port, "%s probe port: the container's named port http", pr.name)
	}
}

// checkSecurity: non-root, read-only root filesystem, no privilege
// escalation, every capability dropped, the runtime's seccomp profile.
// A container setting wins over the pod's, as in the kubelet.
func checkSecurity(t *testing.T, n node) {
	pod := n.d.Spec.Template.Spec.SecurityContext
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	c := n.c.SecurityContext
	require.NotNil(t, c, "no container securityContext")
	nonRoot := pod.RunAsNonRoot
	if c.RunAsNonRoot != nil {
		nonRoot = c.RunAsNonRoot
	}
	require.True(t, nonRoot != nil && *nonRoot, "runAsNonRoot is not true")
	for _, uid := range []*int64{pod.RunAsUser, c.RunAsUser} {
		require.False(t, uid != nil && *uid == 0, "runAsUser 0")
	}
	require.True(t, c.ReadOnlyRootFilesystem != nil && *c.ReadOnlyRootFilesystem, "readOnlyRootFilesystem is not true")
	require.True(t, c.AllowPrivilegeEscalation != nil && !*c.AllowPrivilegeEscalation, "allowPrivilegeEscalation is not false")
	require.True(t, c.Privileged == nil || !*c.Privileged, "privileged")
	require.NotNil(t, c.Capabilities, "capabilities not dropped")
	require.Contains(t, c.Capabilities.Drop, corev1.Capability("ALL"), "capabilities: drop ALL")
	require.Empty(t, c.Capabilities.Add, "capabilities added")
	seccomp := pod.SeccompProfile
	if c.SeccompProfile != nil {
		seccomp = c.SeccompProfile
	}
	require.True(t, seccomp != nil && seccomp.Type == corev1.SeccompProfileTypeRuntimeDefault, "seccomp profile is not RuntimeDefault")
	require.NotNil(t, n.c.Resources.Requests.Cpu(), "cpu request")
	require.False(t, n.c.Resources.Requests.Cpu().IsZero(), "no cpu request: the CPU autoscaler measures against it")
	require.False(t, n.c.Resources.Requests.Memory().IsZero(), "no memory request")
	require.False(t, n.c.Resources.Limits.Memory().IsZero(), "no memory limit")
}

// checkTermination: the grace period outlasts the preStop sleep plus the
// node's drain budget (OUTRIDER_SHUTDOWN_TIMEOUT, which bounds
// app.Node.Stop) with headroom, or the kubelet kills a node mid-drain.
func checkTermination(t *testing.T, n node) {
	drain, err := time.ParseDuration(n.settings["OUTRIDER_SHUTDOWN_TIMEOUT"])
	require.NoError(t, err, "OUTRIDER_SHUTDOWN_TIMEOUT")
	var sleep time.Duration
	if l := n.c.Lifecycle; l != nil && l.PreStop != nil {
		require.NotNil(t, l.PreStop.Sleep, "preStop is not a sleep (the distroless image has no shell to exec)")
		sleep = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
	}
	g := n.d.Spec.Template.Spec.TerminationGracePeriodSeconds
	require.NotNil(t, g, "terminationGracePeriodSeconds unset (30 s by default)")
	grace := time.Duration(*g) * time.Second
	require.GreaterOrEqual(t, grace, sleep+drain+minGraceHeadroom,
		"terminationGracePeriodSeconds %s is not longer than preStop %s + drain %s + %s", grace, sleep, drain, minGraceHeadroom)
}

// checkMembership: the actor remote is reachable from other pods at the
// address the node advertises, and the provider has exactly the API
// access it needs — none for nats, the provider's verbs for kubernetes.
func checkMembership(t *testing.T, r rendered, n node, ns string, verbs []string) {
	host := n.settings["OUTRIDER_CLUSTER_HOST"]
	ip := net.ParseIP(host)
	require.False(t, host == "localhost" || (ip != nil && ip.IsLoopback()),
		"OUTRIDER_CLUSTER_HOST %q: other pods cannot reach a loopback remote", host)
	port := n.settings["OUTRIDER_CLUSTER_PORT"]
	require.NotContains(t, []string{"", "0"}, port, "OUTRIDER_CLUSTER_PORT: a fixed port, which the headless Service names")
	require.Equal(t, port, strconv.Itoa(int(n.port(t, "cluster"))), "the port named cluster is not OUTRIDER_CLUSTER_PORT")
	podIP := slices.IndexFunc(n.env, func(e corev1.EnvVar) bool {
		return e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP"
	})
	require.GreaterOrEqual(t, podIP, 0, "no variable holds the pod IP")
	adv := slices.IndexFunc(n.env, func(e corev1.EnvVar) bool { return e.Name == "OUTRIDER_CLUSTER_ADVERTISED" })
	require.Greater(t, adv, podIP, "OUTRIDER_CLUSTER_ADVERTISED must come after the pod IP variable it expands")
	require.Equal(t, "$("+n.env[podIP].Name+"):"+port, n.env[adv].Value, "the node advertises its pod IP and cluster port")

	spec := n.d.Spec.Template.Spec
	sa, ok := r.accounts[spec.ServiceAccountName]
	require.True(t, ok, "serviceAccountName %q is not in the build", spec.ServiceAccountName)
	mounted := sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken
	if spec.AutomountServiceAccountToken != nil {
		mounted = *spec.AutomountServiceAccountToken
	}
	granted := grantedPodVerbs(t, r, sa.Name, ns)
	switch provider := n.settings["OUTRIDER_CLUSTER_PROVIDER"]; provider {
	case "nats":
		require.False(t, mounted, "the nats provider calls no Kubernetes API: mount no token")
		require.Empty(t, granted, "the nats provider calls no Kubernetes API: grant nothing")
	case "kubernetes":
		require.True(t, mounted, "the kubernetes provider reads its token and namespace from the mounted account")
		require.Empty(t, spec.Hostname, "the kubernetes provider finds its pod by hostname, which must stay the pod's name")
		require.Equal(t, verbs, granted, "the Role must grant on pods exactly what Proto.Actor's kubernetes provider calls")
	default:
		t.Fatalf("OUTRIDER_CLUSTER_PROVIDER %q: nats or kubernetes on Kubernetes", provider)
	}
}

// grantedPodVerbs are the verbs on core pods that Roles bound to the
// account in ns grant, sorted; any other rule fails.
func grantedPodVerbs(t *testing.T, r rendered, account, ns string) []string {
	t.Helper()
	var verbs []string
	for _, b := range r.bindings {
		bound := slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == account && s.Namespace == ns
		})
		if !bound {
			continue
		}
		require.Equal(t, "Role", b.RoleRef.Kind, "RoleBinding %s: a namespaced Role, not a ClusterRole", b.Name)
		role, ok := r.roles[b.RoleRef.Name]
		require.True(t, ok, "RoleBinding %s names Role %s, which is not in the build", b.Name, b.RoleRef.Name)
		for _, rule := range role.Rules {
			require.Equal(t, []string{""}, rule.APIGroups, "Role %s: only the core group", role.Name)
			require.Equal(t, []string{"pods"}, rule.Resources, "Role %s: only pods", role.Name)
			require.Empty(t, rule.ResourceNames, "Role %s", role.Name)
			verbs = append(verbs, rule.Verbs...)
		}
	}
	for _, b := range r.bindings {
		for _, s := range b.Subjects {
			require.True(t, s.Kind == "ServiceAccount" && s.Namespace == ns && r.accounts[s.Name] != nil,
				"RoleBinding %s binds %s %s/%s, not an account of the build in its namespace %s", b.Name, s.Kind, s.Namespace, s.Name, ns)
		}
	}
	slices.Sort(verbs)
	return slices.Compact(verbs)
}

// checkSecrets: the node's secrets come from the Secret the README
// creates, by the keys it creates.
func checkSecrets(t *testing.T, n node, want map[string][]string) {
	got := map[string][]string{}
	for _, e := range n.env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		require.True(t, ref.Optional == nil || !*ref.Optional, "%s: a missing secret must stop the pod, not start a node without it", e.Name)
		got[ref.Name] = append(got[ref.Name], ref.Key)
	}
	for k := range got {
		slices.Sort(got[k])
	}
	require.Equal(t, want, got, "the Secret keys the node reads are not the ones deploy/README.md creates")
	for _, name := range []string{"OUTRIDER_JWT_SECRET", "OUTRIDER_PG_URL", "OUTRIDER_S3_ACCESS_KEY", "OUTRIDER_S3_SECRET_KEY", "OUTRIDER_ADMIN_PASSWORD"} {
		i := slices.IndexFunc(n.env, func(e corev1.EnvVar) bool { return e.Name == name })
		require.GreaterOrEqual(t, i, 0, "%s is not set", name)
		require.True(t, n.env[i].ValueFrom != nil && n.env[i].ValueFrom.SecretKeyRef != nil, "%s comes from a Secret, not a literal or the ConfigMap", name)
	}
}

// checkWorkload: the Deployment's selector selects its pods and no other
// Deployment's; one budget and one CPU autoscaler per Deployment, which
// then leaves replicas to the autoscaler.
func checkWorkload(t *testing.T, r rendered, n node) {
	d := n.d
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	require.NoError(t, err)
	require.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "selector does not select its own pods")
	for _, o := range r.deployments {
		if o != d {
			require.False(t, sel.Matches(labels.Set(o.Spec.Template.Labels)), "selector also selects %s's pods", o.Name)
		}
	}
	var pdbs []string
	for _, p := range r.pdbs {
		s, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		require.NoError(t, err)
		if s.Matches(labels.Set(d.Spec.Template.Labels)) {
			pdbs = append(pdbs, p.Name)
			for _, o := range r.deployments {
				require.True(t, o == d || !s.Matches(labels.Set(o.Spec.Template.Labels)), "PodDisruptionBudget %s spans %s and %s", p.Name, d.Name, o.Name)
			}
		}
	}
	require.Len(t, pdbs, 1, "PodDisruptionBudgets over the pods")
	var hpas int
	for _, h := range r.hpas {
		ref := h.Spec.ScaleTargetRef
		found := slices.ContainsFunc(r.deployments, func(o *appsv1.Deployment) bool { return o.Name == ref.Name })
		require.True(t, ref.Kind == "Deployment" && ref.APIVersion == "apps/v1" && found,
			"HorizontalPodAutoscaler %s targets %s %s %s, not a Deployment of the build", h.Name, ref.APIVersion, ref.Kind, ref.Name)
		if ref.Name != d.Name {
			continue
		}
		hpas++
		require.True(t, slices.ContainsFunc(h.Spec.Metrics, func(m autoscalingv2.MetricSpec) bool {
			return m.Resource != nil && m.Resource.Name == corev1.ResourceCPU
		}), "HorizontalPodAutoscaler %s does not scale on CPU", h.Name)
		require.True(t, h.Spec.MinReplicas != nil && *h.Spec.MinReplicas >= 2,
			"HorizontalPodAutoscaler %s: at least 2 replicas, or a drain of the one node is an outage", h.Name)
	}
	require.Equal(t, 1, hpas, "HorizontalPodAutoscalers of %s", d.Name)
	require.Nil(t, d.Spec.Replicas, "replicas set while an autoscaler owns the count: every apply would reset it")
}

// checkServices: the headless Service selects every node, ready or not,
// on the cluster port; the HTTP Service selects exactly the nodes that
// play the api role, on the http port, with no affinity.
func checkServices(t *testing.T, r rendered, nodes []node) {
	var headless, http int
	for _, s := range r.services {
		sel := labels.SelectorFromSet(s.Spec.Selector)
		require.NotEmpty(t, s.Spec.Selector, "Service %s selects nothing", s.Name)
		require.NotEmpty(t, s.Spec.Ports, "Service %s", s.Name)
		var selected []node
		for _, n := range nodes {
			if sel.Matches(labels.Set(n.d.Spec.Template.Labels)) {
				selected = append(selected, n)
			}
		}
		for _, n := range selected {
			for _, p := range s.Spec.Ports {
				require.Equal(t, intstr.Type(intstr.String), p.TargetPort.Type, "Service %s targets a port by name", s.Name)
				n.port(t, p.TargetPort.StrVal)
			}
		}
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			headless++
			require.Len(t, selected, len(nodes), "headless Service %s must select every node, of every role", s.Name)
			require.True(t, s.Spec.PublishNotReadyAddresses, "headless Service %s: members join before they are ready", s.Name)
			require.True(t, slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.TargetPort.StrVal == "cluster" }),
				"headless Service %s does not name the cluster port", s.Name)
			continue
		}
		http++
		var api, got []string
		for _, n := range nodes {
			if slices.Contains(n.roles, "api") {
				api = append(api, n.d.Name)
			}
		}
		for _, n := range selected {
			got = append(got, n.d.Name)
		}
		require.Equal(t, api, got, "Service %s must select exactly the nodes that play api", s.Name)
		require.Contains(t, []corev1.ServiceAffinity{"", corev1.ServiceAffinityNone}, s.Spec.SessionAffinity, "Service %s: any node serves any socket", s.Name)
		require.True(t, slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.TargetPort.StrVal == "http" }),
			"Service %s does not reach the http port", s.Name)
	}
	require.Equal(t, 1, headless, "headless Services")
	require.GreaterOrEqual(t, http, 1, "HTTP Services")
}
