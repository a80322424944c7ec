package webhook

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAddressGuard (issue #14, finding 5): deliveries dial public unicast
// addresses only, and no IPv6 form that embeds an IPv4 address gets one
// through — the probe reached [::7f00:1] and [64:ff9b::7f00:1], and on a
// network with NAT64 64:ff9b::a9fe:a9fe is the metadata service.
func TestAddressGuard(t *testing.T) {
	t.Parallel()
	refused := []struct{ addr, why string }{
		{"127.0.0.1:80", "loopback"},
		{"10.1.2.3:443", "private"},
		{"172.16.0.1:443", "private"},
		{"192.168.1.1:443", "private"},
		{"169.254.169.254:80", "link-local: cloud metadata"},
		{"100.64.0.1:443", "carrier-grade NAT"},
		{"0.0.0.0:80", "this network"},
		{"255.255.255.255:80", "broadcast"},
		{"224.0.0.1:80", "multicast"},
		{"192.0.0.8:80", "IETF protocol assignments"},
		{"198.18.0.1:80", "benchmarking"},
		{"203.0.113.7:80", "documentation"},
		{"240.0.0.1:80", "reserved"},
		{"[::1]:80", "IPv6 loopback"},
		{"[::]:80", "IPv6 unspecified"},
		{"[fe80::1]:80", "IPv6 link-local"},
		{"[fec0::1]:80", "IPv6 site-local (deprecated)"},
		{"[fc00::1]:80", "unique local"},
		{"[fd12:3456::1]:80", "unique local"},
		{"[ff02::1]:80", "IPv6 multicast"},
		{"[2001:db8::1]:80", "IPv6 documentation"},
		{"[::ffff:127.0.0.1]:80", "IPv4-mapped loopback"},
		{"[::ffff:169.254.169.254]:80", "IPv4-mapped metadata"},
		{"[::ffff:8.8.8.8]:80", "IPv4-mapped, even of a public address: dial IPv4 as IPv4"},
		{"[::7f00:1]:80", "IPv4-compatible 127.0.0.1 (the probe's)"},
		{"[::a9fe:a9fe]:80", "IPv4-compatible 169.254.169.254"},
		{"[::808:808]:80", "IPv4-compatible, even of a public address"},
		{"[64:ff9b::7f00:1]:80", "NAT64 127.0.0.1 (the probe's)"},
		{"[64:ff9b::a9fe:a9fe]:80", "NAT64 169.254.169.254"},
		{"[64:ff9b::a00:1]:80", "NAT64 10.0.0.1"},
		{"[64:ff9b::808:808]:80", "NAT64 of a public address: the gateway is ours to trust, not the URL's"},
		{"[64:ff9b:1::a9fe:a9fe]:80", "local-use NAT64 (RFC 8215)"},
		{"[2002:7f00:1::1]:80", "6to4 of 127.0.0.1"},
		{"[2002:a9fe:a9fe::1]:80", "6to4 of 169.254.169.254"},
		{"[2002:808:808::1]:80", "6to4 at all (deprecated, RFC 7526)"},
		{"[2001:0:4136:e378:8000:63bf:80ff:fffe]:80", "Teredo, client 127.0.0.1"},
		{"[2001::1]:80", "Teredo at all"},
	}
	for _, tc := range refused {
		err := publicOnly("tcp6", tc.addr, nil)
		if tc.addr[0] != '[' {
			err = publicOnly("tcp4", tc.addr, nil)
		}
		require.Error(t, err, "%s (%s) must be refused", tc.addr, tc.why)
		require.True(t, errors.Is(err, ErrPrivateAddress), "%s: %v", tc.addr, err)
	}
	for _, addr := range []string{"8.8.8.8:443", "1.1.1.1:8443", "93.184.215.14:80"} {
		require.NoError(t, publicOnly("tcp4", addr, nil), addr)
	}
	for _, addr := range []string{"[2606:4700:4700::1111]:443", "[2a00:1450:4001:82b::200e]:9000"} {
		require.NoError(t, publicOnly("tcp6", addr, nil), addr)
	}
}
