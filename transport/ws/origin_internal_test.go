package ws

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheckOrigin: a browser's upgrade is taken from the node's own
// origin (the console it serves) and from the allow-list; no Origin is a
// native client; every other origin is refused.
func TestCheckOrigin(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		allowed []string
		host    string
		origin  string
		want    bool
	}{
		"no origin":                  {nil, "node.test:8080", "", true},
		"the node's own page":        {nil, "node.test:8080", "http://node.test:8080", true},
		"the node's own page, https": {nil, "node.test", "https://node.test", true},
		"the node's own, other case": {nil, "Node.Test:8080", "http://node.test:8080", true},
		"another port":               {nil, "node.test:8080", "http://node.test:9090", false},
		"another site":               {nil, "node.test:8080", "https://evil.test", false},
		"a site named like the node": {nil, "node.test:8080", "http://node.test:8080.evil.test", false},
		"listed":                     {[]string{"https://app.test"}, "node.test:8080", "https://app.test", true},
		"not listed":                 {[]string{"https://app.test"}, "node.test:8080", "https://other.test", false},
		"any":                        {[]string{"*"}, "node.test:8080", "https://other.test", true},
		"null (a sandboxed page)":    {nil, "node.test:8080", "null", false},
		"garbage":                    {nil, "node.test:8080", "::not a url", false},
	} {
		g := &Gateway{cfg: Config{AllowedOrigins: tc.allowed}}
		r := httptest.NewRequest("GET", "http://"+tc.host+"/v1/ws", nil)
		r.Host = tc.host
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		require.Equal(t, tc.want, g.checkOrigin(r), name)
	}
}
