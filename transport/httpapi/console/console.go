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
// (ws:// or wss:// on the request's host), which /v1/ws needs. Images may
// also come from the origins Options names: the map tiles' server when
// the operator configured one, and where proof photos are downloaded
// from (the S3 server's public endpoint, or the node's public URL for
// local blobs).
//
// GET /console/config.json tells the app what it cannot know by itself:
// the map tiles' URL template, attribution and zoom limit (null tiles: a
// plain map, which needs no internet).
//
// TrackHandler serves the customers' tracking page (track.html of the
// same build) at /track/<token>: the page reads the token from its path.
package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

//go:embed dist
var dist embed.FS

// Options are what the operator configures about the pages.
type Options struct {
	// TilesURL is the map tiles' URL template ({z}/{x}/{y}, optional
	// {s}), such as https://tile.openstreetmap.org/{z}/{x}/{y}.png; empty
	// draws the maps on a plain projection with no tiles.
	TilesURL string
	// TilesAttribution is shown on the map (tile servers require one).
	TilesAttribution string
	// TilesMaxZoom is the tiles' deepest zoom level. Default 19.
	TilesMaxZoom int
	// ImageOrigins are the other origins (scheme://host[:port]) the pages
	// may load images from: where proof photos are downloaded from.
	ImageOrigins []string
}

// DefaultTilesMaxZoom is the deepest zoom of most tile servers.
const DefaultTilesMaxZoom = 19

// CheckTilesURL returns why u is not a usable tiles URL template ("" when
// it is, or empty).
func CheckTilesURL(u string) string {
	if u == "" {
		return ""
	}
	if _, ok := origin(u); !ok {
		return "must be an http(s) URL"
	}
	for _, p := range []string{"{z}", "{x}", "{y}"} {
		if !strings.Contains(u, p) {
			return "must hold {z}, {x} and {y}"
		}
	}
	return ""
}

// origin is the scheme://host[:port] of an http(s) URL (or template),
// safe to write into a policy.
func origin(raw string) (string, bool) {
	u, err := url.Parse(strings.NewReplacer("{s}", "a", "{z}", "0", "{x}", "0", "{y}", "0", "{r}", "").Replace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !hostPattern.MatchString(u.Host) {
		return "", false
	}
	if strings.Contains(raw, "{s}.") {
		// Subdomains a.…, b.…, c.…: a wildcard for the policy.
		_, rest, _ := strings.Cut(u.Host, ".")
		return u.Scheme + "://*." + rest, true
	}
	return u.Scheme + "://" + u.Host, true
}

// Handler serves the console; mount it at GET /console and GET /console/*path.
func Handler(o Options) http.Handler {
	root, err := fs.Sub(dist, "dist")
	if err != nil {
		panic("console: the embedded build has no dist: " + err.Error())
	}
	page := func(name string) []byte {
		b, err := fs.ReadFile(root, name)
		if err != nil {
			panic("console: the embedded build has no " + name + " (run npm run build in clients/console): " + err.Error())
		}
		return b
	}
	if o.TilesMaxZoom <= 0 {
		o.TilesMaxZoom = DefaultTilesMaxZoom
	}
	type tiles struct {
		URL         string `json:"url"`
		Attribution string `json:"attribution"`
		MaxZoom     int    `json:"max_zoom"`
	}
	cfg := struct {
		Tiles *tiles `json:"tiles"`
	}{}
	images := []string{"'self'"}
	if o.TilesURL != "" {
		cfg.Tiles = &tiles{o.TilesURL, o.TilesAttribution, o.TilesMaxZoom}
		if a, ok := origin(o.TilesURL); ok {
			images = append(images, a)
		}
	}
	for _, raw := range o.ImageOrigins {
		if a, ok := origin(raw); ok && !slices.Contains(images, a) {
			images = append(images, a)
		}
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	return &handler{root: root, index: page("index.html"), track: page("track.html"), config: config, images: strings.Join(images, " ")}
}

type handler struct {
	root   fs.FS
	index  []byte
	track  []byte
	config []byte
	images string // img-src
}

// TrackHandler serves the tracking page; mount it at GET /track/*token.
// It shares the build (and the assets under /console/assets/) with h, a
// Handler's answer.
func TrackHandler(h http.Handler) http.Handler {
	c := h.(*handler)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.secure(w, r)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		http.ServeContent(w, r, "track.html", built, bytes.NewReader(c.track))
	})
}

// built is the time the embedded files are served with (embed keeps
// none): the zero time, so no Last-Modified is sent and caching rests on
// Cache-Control and the hashed names.
var built time.Time

// secure sets the headers every answer carries.
func (h *handler) secure(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", h.policy(r))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.secure(w, r)
	hdr := w.Header()
	name, ok := strings.CutPrefix(r.URL.Path, "/console/")
	if !ok || name == "" || name == "index.html" {
		h.serveIndex(w, r)
		return
	}
	if name == "config.json" {
		hdr.Set("Content-Type", "application/json")
		hdr.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, name, built, bytes.NewReader(h.config))
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
// only (images also from the configured image origins), no inline script
// or style, no frames, no plugins; connect-src adds the node's WebSocket
// origin on the host the browser used (a browser's 'self' covers ws: only
// in newer CSP implementations).
func (h *handler) policy(r *http.Request) string {
	connect := "'self'"
	if hostPattern.MatchString(r.Host) {
		scheme := "ws://"
		if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
			scheme = "wss://"
		}
		connect += " " + scheme + r.Host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + h.images + "; font-src 'self'; " +
		"connect-src " + connect + "; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}
