package wsconn

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// recorder is a Handler that reports what it is given.
type recorder struct {
	frames chan got
	failed chan error
}

func (r *recorder) Frame(op byte, payload []byte) bool {
	r.frames <- got{op, string(payload)}
	return true
}
func (r *recorder) ReadFailed(err error) { r.failed <- err }
func (r *recorder) ArmFailed(err error)  { r.failed <- err }

// tcpPair is a connected loopback pair: the server's end has a file
// descriptor the poller can watch.
func tcpPair(t *testing.T) (server, client net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return server, client
}

func TestReaderHandsFramesToItsHandler(t *testing.T) {
	type mode struct {
		name   string
		poller bool
	}
	modes := []mode{{"goroutine of its own", false}}
	if runtime.GOOS == "linux" { // the poller is epoll's: there is none elsewhere
		modes = append(modes, mode{"poller", true})
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			var p *Poller
			if mode.poller {
				var err error
				p, err = NewPoller(0)
				require.NoError(t, err)
				defer p.Close()
			}
			server, client := tcpPair(t)
			h := &recorder{frames: make(chan got, 8), failed: make(chan error, 1)}
			r := NewReader(server, ReadConfig{Limit: 512, Timeout: 5 * time.Second, Linger: 10 * time.Millisecond,
				Buffers: NewBuffers(64)}, h)
			require.NoError(t, r.Start(p))

			// Two rounds, each with a message and a ping: a ping ends the
			// reader's round at once (keep-alives come alone), so with the
			// poller the second round starts from a re-armed socket.
			for round := 0; round < 2; round++ {
				_, err := client.Write(append(rawFrame{fin: true, op: OpText, payload: []byte(`{"type":"ping"}`)}.bytes(),
					rawFrame{fin: true, op: OpPing, payload: []byte("p")}.bytes()...))
				require.NoError(t, err)
				require.Equal(t, got{OpText, `{"type":"ping"}`}, <-h.frames)
				require.Equal(t, got{OpPing, "p"}, <-h.frames)
			}

			_, err := client.Write(rawFrame{fin: true, op: OpText, unmasked: true, payload: []byte("x")}.bytes())
			require.NoError(t, err)
			var fe *FrameError
			select {
			case err := <-h.failed:
				require.ErrorAs(t, err, &fe)
				require.Equal(t, StatusProtocolError, fe.Code)
			case <-time.After(5 * time.Second):
				t.Fatal("the broken frame was not reported")
			}
			r.Release()
			r.Stop()
			require.Empty(t, h.frames)
		})
	}
}
