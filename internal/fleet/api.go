package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client is a small JSON client of one node's HTTP API: enough to sign in
// and send commands; it neither retries nor interprets answers.
type Client struct {
	// Base is the node's base URL, e.g. http://127.0.0.1:8080.
	Base string
	// HTTP sends the requests.
	HTTP *http.Client
}

// Client returns a client of the node with a 20 s time limit per request.
func (n *Node) Client() *Client {
	return &Client{Base: n.URL(), HTTP: &http.Client{Timeout: 20 * time.Second}}
}

// Reply is an answer of the API.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the body into v.
func (r Reply) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode %d %s: %w", r.Status, r.Body, err)
	}
	return nil
}

// Want returns an error quoting the body unless the status is want.
func (r Reply) Want(want int) error {
	if r.Status != want {
		return fmt.Errorf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	return nil
}

// Do sends body (JSON, when not nil) with the bearer token (when not "")
// and returns the answer. Only a failure to get one is an error.
func (c *Client) Do(ctx context.Context, method, path, token string, body any) (Reply, error) {
	return c.DoKey(ctx, method, path, token, "", body)
}

// DoKey is Do with an Idempotency-Key header (when key is not "").
func (c *Client) DoKey(ctx context.Context, method, path, token, key string, body any) (Reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Reply{}, fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return Reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Reply{}, fmt.Errorf("%s %s%s: %w", method, c.Base, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Reply{}, fmt.Errorf("%s %s%s: read: %w", method, c.Base, path, err)
	}
	return Reply{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Session is a signed-in user.
type Session struct {
	Token  string // the access token
	UserID string
}

// Login signs in and returns the session; any answer but 200 is an error.
func (c *Client) Login(ctx context.Context, email, password string) (Session, error) {
	r, err := c.Do(ctx, http.MethodPost, "/v1/auth/login", "", map[string]string{"email": email, "password": password})
	if err != nil {
		return Session{}, err
	}
	if err := r.Want(http.StatusOK); err != nil {
		return Session{}, fmt.Errorf("login %s: %w", email, err)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		User        struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := r.Decode(&out); err != nil {
		return Session{}, fmt.Errorf("login %s: %w", email, err)
	}
	return Session{Token: out.AccessToken, UserID: out.User.ID}, nil
}

// Admin signs in as the fleet's admin through node n.
func (f *Fleet) Admin(ctx context.Context, n *Node) (Session, error) {
	return n.Client().Login(ctx, f.set.AdminEmail, f.set.AdminPassword)
}
