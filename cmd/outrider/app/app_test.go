package app_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app/apptest"
)

func TestNodeStartsReadyAndStops(t *testing.T) {
	n := apptest.Start(t, nil)
	resp, err := http.Get("http://" + n.Addr() + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
