package s3_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/persistence/blob/blobtest"
	"github.com/outrider/outrider/persistence/blob/s3"
	"github.com/outrider/outrider/persistence/blob/s3/s3test"
)

// otherName is another name of the test server's address: localhost for
// 127.0.0.1 and the reverse, as a compose file's public endpoint is
// another name of the server the node reaches by its service name.
func otherName(t *testing.T, endpoint string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(endpoint)
	require.NoError(t, err)
	switch host {
	case "127.0.0.1":
		return net.JoinHostPort("localhost", port)
	case "localhost":
		return net.JoinHostPort("127.0.0.1", port)
	}
	t.Fatalf("the test server %s has no second name this test knows; run it on 127.0.0.1 or localhost", endpoint)
	return ""
}

// TestPublicEndpoint: with PublicEndpoint set, presigned URLs name the
// public host, in either spelling (with the store's scheme, or a scheme of
// its own), and the server accepts them there: they are signed for the
// host they name. The same URL sent to the internal name is refused,
// which shows the signature is bound to the public host.
func TestPublicEndpoint(t *testing.T) {
	t.Parallel()
	base := s3test.Start(t)
	public := otherName(t, base.Endpoint)
	scheme := "http"
	if base.UseSSL {
		scheme = "https"
	}
	ctx := context.Background()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	for i, spelled := range []string{public, scheme + "://" + public} {
		t.Run(spelled, func(t *testing.T) {
			cfg := base
			cfg.PublicEndpoint = spelled
			s, err := s3.New(ctx, cfg)
			require.NoError(t, err)
			key := "orders/01J0PUB/proofs/p" + strconv.Itoa(i) + ".png"
			body := blobtest.Fill(4<<10, 3)

			p, err := s.PresignPut(ctx, key, "image/png", int64(len(body)), time.Minute)
			require.NoError(t, err)
			u, err := url.Parse(p.URL)
			require.NoError(t, err)
			require.Equal(t, public, u.Host, "the URL names the public endpoint")
			require.Equal(t, scheme, u.Scheme)

			// Sent to the internal name, the public host's signature fails.
			wrong := *u
			wrong.Host = base.Endpoint
			req, err := blobtest.Request(ctx, p, body)
			require.NoError(t, err)
			req.URL, req.Host = &wrong, ""
			resp, err := client.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "a URL signed for %s used at %s", public, base.Endpoint)

			req, err = blobtest.Request(ctx, p, body)
			require.NoError(t, err)
			resp, err = client.Do(req)
			require.NoError(t, err)
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", out)

			// The node itself still reads through Endpoint.
			st, err := s.Stat(ctx, key)
			require.NoError(t, err)
			require.EqualValues(t, len(body), st.Size)

			g, err := s.PresignGet(ctx, key, time.Minute)
			require.NoError(t, err)
			gu, err := url.Parse(g.URL)
			require.NoError(t, err)
			require.Equal(t, public, gu.Host)
			resp, err = client.Get(g.URL)
			require.NoError(t, err)
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.True(t, bytes.Equal(body, got))
		})
	}
}

func TestPublicEndpointRefusals(t *testing.T) {
	t.Parallel()
	cfg := s3test.Start(t)
	for _, e := range []string{"ftp://" + cfg.Endpoint, "http://" + cfg.Endpoint + "/bucket", "http://", "user@" + cfg.Endpoint} {
		bad := cfg
		bad.PublicEndpoint = e
		_, err := s3.New(context.Background(), bad)
		require.ErrorContains(t, err, "public endpoint", e)
	}
}
