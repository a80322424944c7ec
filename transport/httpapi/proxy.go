package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads a comma-separated list of CIDR prefixes
// ("10.0.0.0/8, 2001:db8::/32"); a bare address is its own /32 or /128.
// Empty means no proxy is trusted. An entry that is neither is an error,
// so a typo fails the start instead of silently trusting nobody.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxies: %q is not a CIDR prefix or an address", f)
			}
			a = a.Unmap().WithZone("")
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxies: %q is not a CIDR prefix: %w", f, err)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// trustedPeers answers whether an address is one of the configured
// proxies. all trusts every address (Config.TrustProxy, tests only).
type trustedPeers struct {
	prefixes []netip.Prefix
	all      bool
}

func (tp trustedPeers) trusts(a netip.Addr) bool {
	if tp.all {
		return true
	}
	for _, p := range tp.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (tp trustedPeers) any() bool { return tp.all || len(tp.prefixes) > 0 }

// parseHop reads one address: an X-Forwarded-For entry or a RemoteAddr,
// with or without a port ("192.0.2.1", "192.0.2.1:4711", "[2001:db8::1]:80",
// "2001:db8::1"). IPv4-mapped IPv6 addresses become IPv4 and zones are
// dropped, so one client has one spelling.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

// clientAddr is the address of the client as the limits and the access
// log see it. The direct peer is the client unless it is a trusted proxy;
// then X-Forwarded-For is walked from the right (the entry the nearest
// proxy appended) to the left, skipping trusted proxies, and the first
// untrusted address is the client. Entries left of it are whatever the
// client sent and are never believed. If the walk meets an entry that is
// not an address, it stops and takes the last trusted hop it passed (the
// header is garbage from there on); if every entry is trusted, the
// leftmost one.
func (s *Server) clientAddr(r *http.Request) string {
	peer, ok := parseHop(r.RemoteAddr)
	if !ok {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	}
	if !s.proxies.trusts(peer) {
		return peer.String()
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		entries := strings.Split(hops[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			if strings.TrimSpace(entries[j]) == "" {
				continue
			}
			a, ok := parseHop(entries[j])
			if !ok {
				return client.String()
			}
			client = a
			if !s.proxies.trusts(a) {
				return a.String()
			}
		}
	}
	return client.String()
}

// fromTrustedProxy reports whether the direct peer of r is a trusted
// proxy, whose X-Request-Id is honoured.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	if !s.proxies.any() {
		return false
	}
	peer, ok := parseHop(r.RemoteAddr)
	return ok && s.proxies.trusts(peer)
}
