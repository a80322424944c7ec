package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// healthcheck is `outrider healthcheck [--url URL] [--timeout D]`: nil
// (exit 0) when URL answers 2xx within the timeout, an error (exit 1)
// otherwise. It is the container's probe: the distroless image has no
// curl. The default URL is this node's /readyz on 127.0.0.1, at the port
// of OUTRIDER_HTTP_ADDR (8080 when unset), over https when
// OUTRIDER_TLS_CERT_FILE is set. Over https to a loopback address the
// certificate is not verified (the probe reads only a status from its own
// node, and certificates rarely name 127.0.0.1); to any other host it is.
func healthcheck(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", defaultHealthURL(), "URL to probe; healthy when it answers 2xx")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q", fs.Arg(0))
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("healthcheck: --url %q: want http(s)://host[:port]/path", *target)
	}
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	if u.Scheme == "https" && isLoopback(u.Hostname()) {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // a loopback probe of the node itself: see the doc comment
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}).Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("healthcheck: %s answered %s", u.Redacted(), resp.Status)
	}
	return nil
}

// defaultHealthURL is /readyz of the node this environment configures.
func defaultHealthURL() string {
	port := "8080"
	if addr := os.Getenv("OUTRIDER_HTTP_ADDR"); addr != "" {
		if _, p, err := net.SplitHostPort(addr); err == nil && p != "" && p != "0" {
			port = p
		}
	}
	scheme := "http"
	if os.Getenv("OUTRIDER_TLS_CERT_FILE") != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort("127.0.0.1", port) + "/readyz"
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
