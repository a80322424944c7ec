package ws

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/transport/ws/internal/wsconn"
)

// The engine closes a session for a broken frame with the status its
// FrameError carries, and reads a close frame without one as
// StatusNoStatus; those codes must be the ones this package's list
// documents.
func TestEngineCloseCodesAreInTheList(t *testing.T) {
	require.Equal(t, CloseProtocolError, wsconn.StatusProtocolError)
	require.Equal(t, CloseMessageTooBig, wsconn.StatusMessageTooBig)
}
