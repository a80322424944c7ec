package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/transport/httpapi/console"
)

type answer struct {
	status  int
	headers http.Header
	body    string
}

func get(t *testing.T, h http.Handler, target, host string) answer {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if host != "" {
		r.Host = host
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	body, err := io.ReadAll(w.Result().Body)
	require.NoError(t, err)
	return answer{w.Code, w.Result().Header, string(body)}
}

// bundle is the path of the build's script, read from index.html as a
// browser would.
func bundle(t *testing.T, index string) string {
	t.Helper()
	m := regexp.MustCompile(`<script[^>]*src="(/console/assets/[^"]+\.js)"`).FindStringSubmatch(index)
	require.NotNil(t, m, "index.html names no script under /console/assets/:\n%s", index)
	return m[1]
}

func TestIndexForTheAppAndItsRoutes(t *testing.T) {
	t.Parallel()
	h := console.Handler()
	for _, target := range []string{"/console", "/console/", "/console/index.html", "/console/orders/01ABC", "/console/../etc/passwd", "/console/%2e%2e/x"} {
		a := get(t, h, target, "node.example:8080")
		require.Equal(t, http.StatusOK, a.status, target)
		require.Equal(t, "text/html; charset=utf-8", a.headers.Get("Content-Type"), target)
		require.Equal(t, "no-cache", a.headers.Get("Cache-Control"), target)
		require.Contains(t, a.body, `<div id="root">`, target)
		bundle(t, a.body)
	}
}

func TestAssetsAreTypedAndCachedForever(t *testing.T) {
	t.Parallel()
	h := console.Handler()
	js := bundle(t, get(t, h, "/console/", "").body)
	a := get(t, h, js, "")
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "text/javascript; charset=utf-8", a.headers.Get("Content-Type"))
	require.Equal(t, "public, max-age=31536000, immutable", a.headers.Get("Cache-Control"))
	require.Equal(t, "nosniff", a.headers.Get("X-Content-Type-Options"))
	require.Greater(t, len(a.body), 1000)

	css := regexp.MustCompile(`href="(/console/assets/[^"]+\.css)"`).FindStringSubmatch(get(t, h, "/console/", "").body)
	require.NotNil(t, css)
	a = get(t, h, css[1], "")
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "text/css; charset=utf-8", a.headers.Get("Content-Type"))

	a = get(t, h, "/console/favicon.svg", "")
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "image/svg+xml", a.headers.Get("Content-Type"))
	require.Equal(t, "no-cache", a.headers.Get("Cache-Control"), "a file without a hashed name is revalidated")

	// An asset that is not in the build is a 404, never the HTML page
	// (a browser would try to run it as a script).
	a = get(t, h, "/console/assets/index-gone.js", "")
	require.Equal(t, http.StatusNotFound, a.status)
	require.NotContains(t, a.body, "<html")
}

func TestContentSecurityPolicy(t *testing.T) {
	t.Parallel()
	h := console.Handler()
	csp := get(t, h, "/console/", "node.example:8080").headers.Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	require.Equal(t, map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"img-src":         "'self'",
		"font-src":        "'self'",
		"connect-src":     "'self' ws://node.example:8080",
		"manifest-src":    "'self'",
		"base-uri":        "'none'",
		"form-action":     "'self'",
		"frame-ancestors": "'none'",
	}, directives)

	// A Host that would smuggle a directive in is left out: 'self' alone.
	csp = get(t, h, "/console/", "evil.example; script-src *").headers.Get("Content-Security-Policy")
	require.Contains(t, csp, "connect-src 'self'; ")
	require.NotContains(t, csp, "evil")
}

// TestNoInlineCode: the policy allows no inline script or style, so the
// build must hold none (or the page would not run under it).
func TestNoInlineCode(t *testing.T) {
	t.Parallel()
	index := get(t, console.Handler(), "/console/", "").body
	require.NotRegexp(t, `<script(?:\s[^>]*)?>\s*\S`, regexp.MustCompile(`<script[^>]*src=[^>]*>\s*</script>`).ReplaceAllString(index, ""))
	require.NotContains(t, index, "<style")
	require.NotContains(t, index, " style=")
	require.NotRegexp(t, `\son[a-z]+=`, index)
}
