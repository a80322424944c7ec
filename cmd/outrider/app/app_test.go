package app_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
)

func TestNodeStartsReadyAndStops(t *testing.T) {
	n := e2e.Start(t, nil)
	resp, err := http.Get("http://" + n.Addr() + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
