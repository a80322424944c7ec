//go:build kubernetes

package cluster

import (
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/k8s"
)

// The kubernetes provider is Proto.Actor's own: each pod labels itself
// with the cluster name, its port and kinds through the API server and
// watches the pods so labelled in its namespace (read from the service
// account). It needs a ServiceAccount allowed to get, list, watch and
// patch pods (deploy/kubernetes). Compiled in with -tags kubernetes only,
// so that other builds do not link client-go.
func init() {
	extraProviders[ProviderKubernetes] = func(Config) (pcluster.ClusterProvider, error) {
		return k8s.New()
	}
}
