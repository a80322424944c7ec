package main_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitReadyz polls http://addr/readyz until it answers 200, failing when
// the process behind it exits (exited closes) or within passes. The kill,
// two-node and dev tests all start their node this way.
func waitReadyz(t *testing.T, name, addr string, exited <-chan struct{}, within time.Duration) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	var last string
	ok := assert.Eventually(t, func() bool {
		select {
		case <-exited:
			last = "the process exited"
			return true // stop polling; judged below
		default:
		}
		resp, err := hc.Get("http://" + addr + "/readyz")
		if err != nil {
			last = err.Error()
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		return resp.StatusCode == http.StatusOK
	}, within, 50*time.Millisecond)
	require.True(t, ok && last != "the process exited", "%s not ready within %s (last: %s)", name, within, last)
}
