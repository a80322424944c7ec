package main

import (
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// The command-line clients find the node from their settings, in order,
// and say where the address came from.
func TestNodeURL(t *testing.T) {
	for _, tc := range []struct {
		name            string
		env             map[string]string
		wantURL, wantBy string
	}{
		{"nothing set", nil, "http://localhost:8080", "the default"},
		{"the node's listen address", map[string]string{"OUTRIDER_HTTP_ADDR": ":8081"}, "http://localhost:8081", "OUTRIDER_HTTP_ADDR"},
		{"all interfaces", map[string]string{"OUTRIDER_HTTP_ADDR": "0.0.0.0:9000"}, "http://localhost:9000", "OUTRIDER_HTTP_ADDR"},
		{"a loopback address", map[string]string{"OUTRIDER_HTTP_ADDR": "127.0.0.1:8787"}, "http://127.0.0.1:8787", "OUTRIDER_HTTP_ADDR"},
		{"IPv6", map[string]string{"OUTRIDER_HTTP_ADDR": "[::1]:8082"}, "http://[::1]:8082", "OUTRIDER_HTTP_ADDR"},
		{"over TLS", map[string]string{"OUTRIDER_HTTP_ADDR": ":8443", "OUTRIDER_TLS_CERT_FILE": "/tls/crt"}, "https://localhost:8443", "OUTRIDER_HTTP_ADDR"},
		{"a free port is no address", map[string]string{"OUTRIDER_HTTP_ADDR": "127.0.0.1:0"}, "http://localhost:8080", "the default"},
		{"OUTRIDER_SERVER", map[string]string{"OUTRIDER_SERVER": "http://node2:8080", "OUTRIDER_HTTP_ADDR": ":8081"}, "http://node2:8080", "OUTRIDER_SERVER"},
		{"OUTRIDER_URL first", map[string]string{"OUTRIDER_URL": "https://api.example.com", "OUTRIDER_SERVER": "http://node2:8080"}, "https://api.example.com", "OUTRIDER_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			u, by := nodeURL()
			require.Equal(t, tc.wantURL, u)
			require.Equal(t, tc.wantBy, by)
		})
	}
}

// A watch aimed at a port nobody listens on says which address it tried
// and how to give another, instead of retrying "connection refused".
func TestWatchNamesTheAddressItCannotReach(t *testing.T) {
	clearEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nobody listens there now
	t.Setenv("OUTRIDER_URL", "http://"+addr)
	t.Setenv("OUTRIDER_TOKEN", "some-token")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = watchOnce(ctx, "ws://"+addr+"/v1/ws", "some-token", "order:x", new(int64), &bytes.Buffer{})
	require.ErrorContains(t, err, "no node listens at ws://"+addr)
	require.ErrorContains(t, err, "OUTRIDER_URL")
}
