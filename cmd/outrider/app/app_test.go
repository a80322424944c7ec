package app_test

import (
	"net/http"
	"testing"

	"github.com/outrider/outrider/e2e"
)

func TestNodeStartsReadyAndStops(t *testing.T) {
	n := e2e.Start(t, nil)
	e2e.NewClient(t, "http://"+n.Addr()).Anon().Get(t, "/readyz").RequireStatus(t, http.StatusOK)
}
