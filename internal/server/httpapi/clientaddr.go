package httpapi

import (
	"net"
	"net/http"
	"net/netip"
)

// ClientKey names the client a connection or request comes from, for
// per-client limits: its IPv4 address, or the /64 prefix of its IPv6
// address (one host or site commonly holds a whole /64, so counting single
// IPv6 addresses would let it multiply its allowance). addr is a
// RemoteAddr ("host:port"). Behind a reverse proxy every client is the
// proxy.
func ClientKey(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

// RequestClientKey is ClientKey of the request's remote address.
func RequestClientKey(r *http.Request) string { return ClientKey(r.RemoteAddr) }
