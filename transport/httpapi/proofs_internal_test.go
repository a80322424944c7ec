package httpapi

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors/order"
)

// TestProofExtCoversProofTypes: the upload keys give every type the order
// accepts as a proof an extension, and no other type one.
func TestProofExtCoversProofTypes(t *testing.T) {
	t.Parallel()
	require.ElementsMatch(t, order.ProofTypes, slices.Collect(maps.Keys(proofExt)))
}
