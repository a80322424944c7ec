package wsconn

import (
	"bytes"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// countingConn records each Write it gets.
type countingConn struct {
	net.Conn
	writes [][]byte
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func TestCorkedConnCoalescesABatch(t *testing.T) {
	under := &countingConn{}
	c := &CorkedConn{Conn: under}

	_, _ = c.Write([]byte("handshake"))
	require.Len(t, under.writes, 1, "uncorked writes pass straight through")

	c.Cork()
	for _, f := range []string{"a", "bb", "ccc"} {
		n, err := c.Write([]byte(f))
		require.NoError(t, err)
		require.Equal(t, len(f), n)
	}
	require.Len(t, under.writes, 1, "nothing is sent while corked")
	require.NoError(t, c.Uncork())
	require.Equal(t, [][]byte{[]byte("handshake"), []byte("abbccc")}, under.writes, "the batch is one write")

	require.NoError(t, c.Uncork(), "uncorking with nothing gathered writes nothing")
	require.Len(t, under.writes, 2)

	c.Cork()
	_, _ = c.Write(make([]byte, CorkBufferKeep+1))
	require.NoError(t, c.Uncork())
	require.Nil(t, c.buf, "a burst's large buffer is not kept")
}
