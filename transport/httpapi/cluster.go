package httpapi

import (
	"net/http"

	"github.com/outrider/outrider/cluster"
	"github.com/outrider/outrider/problem"
)

// ClusterView is what GET /v1/cluster shows: the members as this node
// sees them (cluster.Node).
type ClusterView interface {
	Status() cluster.Status
	// ID is this node's member id; it owns the node's Idempotency-Key
	// claims, which the others release when it leaves.
	ID() string
}

// nodeID is this node's member id, "" without a cluster view.
func (s *Server) nodeID() string {
	if s.cluster == nil {
		return ""
	}
	return s.cluster.ID()
}

// clusterStatus serves GET /v1/cluster: every live member with its
// addresses, roles, joined time, activations per kind and sockets, and
// which one answered.
func (s *Server) clusterStatus(w http.ResponseWriter, _ *http.Request, _ *call) error {
	if s.cluster == nil {
		return newError(problem.Unavailable, "this node has no cluster view").retryAfter(1)
	}
	writeJSON(w, http.StatusOK, s.cluster.Status())
	return nil
}
