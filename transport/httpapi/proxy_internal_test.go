package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{in: "", want: nil},
		{in: " , ", want: nil},
		{in: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
		{in: "10.1.2.3/8, 192.0.2.7", want: []string{"10.0.0.0/8", "192.0.2.7/32"}},
		{in: "2001:db8::/32,::1", want: []string{"2001:db8::/32", "::1/128"}},
		{in: "::ffff:10.0.0.0/104", want: []string{"10.0.0.0/8"}},
		{in: "10.0.0.0/33", err: true},
		{in: "proxy.internal", err: true},
		{in: "10.0.0.0/8;192.0.2.0/24", err: true},
	} {
		got, err := ParseTrustedProxies(tc.in)
		if tc.err {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		require.Equal(t, tc.want, s, tc.in)
	}
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		trusted string
		peer    string
		xff     []string // one X-Forwarded-For header line each
		want    string
	}{
		{name: "no proxy configured, forged header ignored", peer: "198.51.100.9:5000", xff: []string{"203.0.113.1"}, want: "198.51.100.9"},
		{name: "untrusted peer, forged header ignored", trusted: "10.0.0.0/8", peer: "198.51.100.9:5000", xff: []string{"203.0.113.1"}, want: "198.51.100.9"},
		{name: "trusted peer without header", trusted: "10.0.0.0/8", peer: "10.0.0.2:5000", want: "10.0.0.2"},
		{name: "trusted peer, one client", trusted: "10.0.0.0/8", peer: "10.0.0.2:5000", xff: []string{"203.0.113.1"}, want: "203.0.113.1"},
		{name: "client forges entries left of its own", trusted: "10.0.0.0/8", peer: "10.0.0.2:5000", xff: []string{"1.2.3.4, 203.0.113.1"}, want: "203.0.113.1"},
		{name: "chain of trusted hops", trusted: "10.0.0.0/8, 192.168.0.0/16", peer: "10.0.0.2:5000", xff: []string{"6.6.6.6, 203.0.113.1, 192.168.1.1, 10.9.9.9"}, want: "203.0.113.1"},
		{name: "hops over several header lines", trusted: "10.0.0.0/8", peer: "10.0.0.2:5000", xff: []string{"6.6.6.6, 203.0.113.1", "10.1.1.1"}, want: "203.0.113.1"},
		{name: "every hop trusted: the leftmost", trusted: "10.0.0.0/8", peer: "10.0.0.2:5000", xff: []string{"10.3.3.3, 10.1.1.1"}, want: "10.3.3.3"},
		{name: "garbage where the client should be: nearest trusted hop", trusted: "10.0.0.0/8", peer: "10.0.0.2:5000", xff: []string{"not-an-ip, 10.1.1.1"}, want: "10.1.1.1"},
		{name: "garbage right away: the peer", trusted: "10.0.0.0/8", peer: "10.0.0.2:5000", xff: []string{"<script>"}, want: "10.0.0.2"},
		{name: "garbage left of the client is never read", trusted: "10.0.0.0/8", peer: "10.0.0.2:5000", xff: []string{"junk, 203.0.113.1"}, want: "203.0.113.1"},
		{name: "empty entries skipped", trusted: "10.0.0.0/8", peer: "10.0.0.2:5000", xff: []string{"203.0.113.1, , 10.1.1.1,"}, want: "203.0.113.1"},
		{name: "entry with a port", trusted: "10.0.0.0/8", peer: "10.0.0.2:5000", xff: []string{"203.0.113.1:4711"}, want: "203.0.113.1"},
		{name: "IPv6 client behind IPv6 proxy", trusted: "2001:db8:ff::/48", peer: "[2001:db8:ff::2]:443", xff: []string{"2001:db8:1::7, 2001:db8:ff::9"}, want: "2001:db8:1::7"},
		{name: "bracketed IPv6 entry with port", trusted: "2001:db8:ff::/48", peer: "[2001:db8:ff::2]:443", xff: []string{"[2001:db8:1::7]:80"}, want: "2001:db8:1::7"},
		{name: "IPv4-mapped peer matches an IPv4 prefix", trusted: "10.0.0.0/8", peer: "[::ffff:10.0.0.2]:5000", xff: []string{"::ffff:203.0.113.1"}, want: "203.0.113.1"},
		{name: "untrusted IPv6 peer", trusted: "10.0.0.0/8", peer: "[2001:db8::1]:5000", xff: []string{"203.0.113.1"}, want: "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParseTrustedProxies(tc.trusted)
			require.NoError(t, err)
			s := &Server{proxies: trustedPeers{prefixes: p}}
			r := httptest.NewRequest("GET", "/healthz", nil)
			r.RemoteAddr = tc.peer
			for _, h := range tc.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			require.Equal(t, tc.want, s.clientAddr(r))
		})
	}
}

func TestSaneRequestID(t *testing.T) {
	t.Parallel()
	for id, ok := range map[string]bool{
		"abc-123":                 true,
		"00f067aa0ba902b7":        true,
		"a.b_c~d!e#f$g%h&i'j*k+l": true,
		strings.Repeat("x", 128):  true,
		strings.Repeat("x", 129):  false,
		"with space":              false,
		"quote\"":                 false,
		"new\nline":               false,
		"ümlaut":                  false,
		"a,b":                     false,
		"{json}":                  false,
	} {
		require.Equal(t, ok, saneRequestID(id), "%q", id)
	}
}
