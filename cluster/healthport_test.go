package cluster

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAutoManagedHealthPortBindsClusterHost: the automanaged provider's
// health endpoint listens on the cluster host only (patch 7 of
// third_party/protoactor-go), never on every interface. 127.0.0.2 is a
// loopback address of its own on Linux, so the endpoint must answer there
// and be refused on 127.0.0.1.
func TestAutoManagedHealthPortBindsClusterHost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	n, _ := setup(t, func(c *Config) {
		c.Provider, c.Host = ProviderAutoManaged, "127.0.0.2"
		c.AutoManagedPort = port
		c.Seeds = []string{net.JoinHostPort("127.0.0.2", strconv.Itoa(port))}
	})
	require.True(t, n.Ready())

	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port)))
	require.NoError(t, err, "the health endpoint answers on the cluster host")
	require.NoError(t, conn.Close())
	_, err = net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	require.Error(t, err, "the health endpoint must not listen on other interfaces")
}
