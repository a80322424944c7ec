package httpapi

import (
	"net/http"

	"github.com/outrider/outrider/cluster"
)

// ClusterView is what GET /v1/cluster shows: the members as this node
// sees them (cluster.Node).
type ClusterView interface {
	Status() cluster.Status
}

// clusterStatus serves GET /v1/cluster: every live member with its
// addresses, roles, joined time, activations per kind and sockets, and
// which one answered.
func (s *Server) clusterStatus(w http.ResponseWriter, _ *http.Request, _ *call) error {
	if s.cluster == nil {
		return &Error{Code: "unavailable", Detail: "this node has no cluster view", RetryAfter: 1}
	}
	writeJSON(w, http.StatusOK, s.cluster.Status())
	return nil
}
