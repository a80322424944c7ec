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
	h := console.Handler(console.Options{})
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
	h := console.Handler(console.Options{})
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
	h := console.Handler(console.Options{})
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
	index := get(t, console.Handler(console.Options{}), "/console/", "").body
	require.NotRegexp(t, `<script(?:\s[^>]*)?>\s*\S`, regexp.MustCompile(`<script[^>]*src=[^>]*>\s*</script>`).ReplaceAllString(index, ""))
	require.NotContains(t, index, "<style")
	require.NotContains(t, index, " style=")
	require.NotRegexp(t, `\son[a-z]+=`, index)
}

func directives(csp string) map[string]string {
	out := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		out[name] = value
	}
	return out
}

// TestMapConfig: config.json tells the app the tiles the operator chose
// (null: a plain map), and the policy lets images come from the tiles'
// server and the proof photos' origins, and from nowhere else.
func TestMapConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		opts    console.Options
		config  string
		imgSrc  string
		checked string
	}{
		{"no tiles", console.Options{}, `{"tiles":null}`, "'self'", ""},
		{"tiles", console.Options{TilesURL: "https://tile.example.org/{z}/{x}/{y}.png", TilesAttribution: "© Example"},
			`{"tiles":{"url":"https://tile.example.org/{z}/{x}/{y}.png","attribution":"© Example","max_zoom":19}}`,
			"'self' https://tile.example.org", ""},
		{"subdomains", console.Options{TilesURL: "https://{s}.tiles.example:8443/{z}/{x}/{y}.png", TilesMaxZoom: 17},
			`{"tiles":{"url":"https://{s}.tiles.example:8443/{z}/{x}/{y}.png","attribution":"","max_zoom":17}}`,
			"'self' https://*.tiles.example:8443", ""},
		{"proof photos", console.Options{ImageOrigins: []string{"http://localhost:8080", "https://s3.example:9000/bucket", "not a url", "http://localhost:8080"}},
			`{"tiles":null}`, "'self' http://localhost:8080 https://s3.example:9000", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := console.Handler(c.opts)
			a := get(t, h, "/console/config.json", "node.example")
			require.Equal(t, http.StatusOK, a.status)
			require.Equal(t, "application/json", a.headers.Get("Content-Type"))
			require.JSONEq(t, c.config, a.body)
			for _, target := range []string{"/console/", "/console/config.json", "/track/ord_1.x"} {
				hh := h
				if strings.HasPrefix(target, "/track/") {
					hh = console.TrackHandler(h)
				}
				require.Equal(t, c.imgSrc, directives(get(t, hh, target, "node.example").headers.Get("Content-Security-Policy"))["img-src"], target)
			}
		})
	}
}

func TestCheckTilesURL(t *testing.T) {
	t.Parallel()
	for u, want := range map[string]string{
		"": "",
		"https://tile.openstreetmap.org/{z}/{x}/{y}.png": "",
		"http://{s}.tile.example/{z}/{x}/{y}.png":        "",
		"https://tile.example/{z}/{x}.png":               "must hold {z}, {x} and {y}",
		"ftp://tile.example/{z}/{x}/{y}.png":             "must be an http(s) URL",
		"https://tile.example; script-src */{z}/{x}/{y}": "must be an http(s) URL",
		"tile.example/{z}/{x}/{y}.png":                   "must be an http(s) URL",
	} {
		require.Equal(t, want, console.CheckTilesURL(u), u)
	}
}

// TestTrackingPage: /track/<token> answers the tracking page of the same
// build (its script under /console/assets/, which the console's handler
// serves), never cached, under the same policy.
func TestTrackingPage(t *testing.T) {
	t.Parallel()
	h := console.Handler(console.Options{})
	a := get(t, console.TrackHandler(h), "/track/ord_01ABC.tag", "node.example:8080")
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "text/html; charset=utf-8", a.headers.Get("Content-Type"))
	require.Equal(t, "no-store", a.headers.Get("Cache-Control"))
	require.Contains(t, a.body, "<title>Your delivery</title>")
	require.NotContains(t, a.body, "Outrider console")
	require.Equal(t, "'self' ws://node.example:8080", directives(a.headers.Get("Content-Security-Policy"))["connect-src"])
	script := bundle(t, a.body)
	js := get(t, h, script, "")
	require.Equal(t, http.StatusOK, js.status, script)
	require.Contains(t, js.headers.Get("Content-Type"), "javascript")
}
