package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outrider/outrider/internal/backoff"
)

// watch is `outrider watch`: subscribe to one channel and print every
// frame as a JSON line, resuming with `since` after a dropped connection.
// It is the curl of the realtime API, so nobody needs websocat.
func watch(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	def, from := nodeURL()
	server := fs.String("server", def, "node URL (default: OUTRIDER_URL, else OUTRIDER_SERVER, else OUTRIDER_HTTP_ADDR's port on localhost, else http://localhost:8080)")
	token := fs.String("token", os.Getenv("OUTRIDER_TOKEN"), "access token (OUTRIDER_TOKEN)")
	since := fs.Int64("since", -1, "replay events after this seq first (-1: only new events)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: outrider watch [flags] order:<id>")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *token == "" {
		fs.Usage()
		return errors.New("watch needs a channel and a token")
	}
	channel := fs.Arg(0)
	u, err := url.Parse(*server)
	if err != nil {
		return fmt.Errorf("server URL: %w", err)
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = "/v1/ws"
	if serverSet(fs) {
		from = "--server"
	}
	fmt.Fprintf(os.Stderr, "watch: %s (from %s)\n", u, from)
	last := *since
	for attempt := 0; ; attempt++ {
		err := watchOnce(ctx, u.String(), *token, channel, &last, out)
		if ctx.Err() != nil {
			return nil
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) && (ce.Code == 4001 || ce.Code == 1008 || ce.Code == 1009) {
			return err // retrying would not help
		}
		if attempt >= 5 {
			return err
		}
		fmt.Fprintf(os.Stderr, "watch: %v; reconnecting\n", err)
		if backoff.Sleep(ctx, time.Duration(attempt+1)*time.Second) != nil {
			return nil
		}
	}
}

func watchOnce(ctx context.Context, wsURL, token, channel string, last *int64, out io.Writer) error {
	h := http.Header{"Authorization": {"Bearer " + token}}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, h)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			return fmt.Errorf("connect: %s: %s", resp.Status, body)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("connect: no node listens at %s: give its address with --server or OUTRIDER_URL: %w", wsURL, err)
		}
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	go func() { <-ctx.Done(); conn.Close() }()
	sub := map[string]any{"type": "subscribe", "channel": channel, "id": "watch"}
	if *last >= 0 {
		sub["since"] = *last
	}
	if err := conn.WriteJSON(sub); err != nil {
		return err
	}
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		var f struct {
			Type, ID, Code, Message string
			Seq                     int64
		}
		_ = json.Unmarshal(data, &f)
		if f.Type == "error" && f.ID == "watch" {
			return fmt.Errorf("%s: %s", f.Code, f.Message)
		}
		if f.Type == "event" && f.Seq > *last {
			*last = f.Seq
		}
		fmt.Fprintln(out, string(data))
	}
}

// nodeURL is the node the command-line clients (watch, cluster status)
// talk to when --server is not given, and where that came from:
// OUTRIDER_URL, else OUTRIDER_SERVER, else the port of OUTRIDER_HTTP_ADDR
// (the node's own listen setting, so a shell that started a node on
// another port reaches it) on localhost, over https when
// OUTRIDER_TLS_CERT_FILE is set, else http://localhost:8080.
func nodeURL() (url, from string) {
	for _, name := range []string{"OUTRIDER_URL", "OUTRIDER_SERVER"} {
		if v := os.Getenv(name); v != "" {
			return v, name
		}
	}
	if addr := os.Getenv("OUTRIDER_HTTP_ADDR"); addr != "" {
		if host, port, err := net.SplitHostPort(addr); err == nil && port != "" && port != "0" {
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "localhost"
			}
			scheme := "http"
			if os.Getenv("OUTRIDER_TLS_CERT_FILE") != "" {
				scheme = "https"
			}
			return scheme + "://" + net.JoinHostPort(host, port), "OUTRIDER_HTTP_ADDR"
		}
	}
	return "http://localhost:8080", "the default"
}

// serverSet reports whether --server was given on the command line.
func serverSet(fs *flag.FlagSet) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "server" })
	return set
}
