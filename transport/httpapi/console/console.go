// Package console serves the dispatcher's console, the React app of
// clients/console, at /console: the build is embedded (dist, made by
// `npm run build` there and committed, so a node needs no Node.js), and
// Handler answers GET /console, /console/ and everything under it.
//
// What it answers:
//   - a file of the build by its path under /console/ (assets/ holds the
//     content-hashed bundles: cached for a year, immutable);
//   - index.html, never cached, for /console, /console/ and any other path
//     that names no file and is not under assets/ (the app's own routes,
//     such as /console/orders/ID, load the app, which reads the path);
//   - 404 for a missing file under assets/ (an old bundle's name: the
//     browser must not get HTML for a script).
//
// Every answer carries a Content-Security-Policy that lets the page load
// scripts, styles, images and fonts from the node only, and connect only
// to the node itself: its HTTP origin ('self') and its WebSocket origin
// (ws:// or wss:// on the request's host), which /v1/ws needs.
package console

import (
	"bytes"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

//go:embed dist
var dist embed.FS

// Handler serves the console; mount it at GET /console and GET /console/*path.
func Handler() http.Handler {
	root, err := fs.Sub(dist, "dist")
	if err != nil {
		panic("console: the embedded build has no dist: " + err.Error())
	}
	index, err := fs.ReadFile(root, "index.html")
	if err != nil {
		panic("console: the embedded build has no index.html (run npm run build in clients/console): " + err.Error())
	}
	return &handler{root: root, index: index}
}

type handler struct {
	root  fs.FS
	index []byte
}

// built is the time the embedded files are served with (embed keeps
// none): the zero time, so no Last-Modified is sent and caching rests on
// Cache-Control and the hashed names.
var built time.Time

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", policy(r))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")

	name, ok := strings.CutPrefix(r.URL.Path, "/console/")
	if !ok || name == "" || name == "index.html" {
		h.serveIndex(w, r)
		return
	}
	name = path.Clean(name)
	body, err := fs.ReadFile(h.root, name)
	if err != nil || !fs.ValidPath(name) {
		if strings.HasPrefix(name, "assets/") {
			http.Error(w, "no such file in the console's build", http.StatusNotFound)
			return
		}
		h.serveIndex(w, r) // one of the app's routes
		return
	}
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		hdr.Set("Content-Type", ct)
	}
	if strings.HasPrefix(name, "assets/") {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, built, bytes.NewReader(body))
}

func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "index.html", built, bytes.NewReader(h.index))
}

// hostPattern is a host[:port] safe to write into the policy (no spaces,
// semicolons or quotes that would add directives).
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)

// policy is the page's Content-Security-Policy: everything from the node
// only, no inline script or style, no frames, no plugins; connect-src
// adds the node's WebSocket origin on the host the browser used (a
// browser's 'self' covers ws: only in newer CSP implementations).
func policy(r *http.Request) string {
	connect := "'self'"
	if hostPattern.MatchString(r.Host) {
		scheme := "ws://"
		if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
			scheme = "wss://"
		}
		connect += " " + scheme + r.Host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; " +
		"connect-src " + connect + "; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}
