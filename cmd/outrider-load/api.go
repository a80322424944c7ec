package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oklog/ulid/v2"
)

// api calls the node's HTTP API.
type api struct {
	base   string
	client *http.Client
}

func (t *target) api(conns int) *api {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		IdleConnTimeout: 30 * time.Second}
	return &api{base: "http://" + t.addr, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// apiError is a non-2xx answer.
type apiError struct {
	Status int
	Body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// call sends body (JSON, nil for none) and decodes a 2xx answer into out.
func (a *api) call(ctx context.Context, method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &apiError{Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

type userJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

// login answers the user and an access token.
func (a *api) login(ctx context.Context, email, password string) (userJSON, string, error) {
	var out struct {
		User        userJSON `json:"user"`
		AccessToken string   `json:"access_token"`
	}
	err := a.call(ctx, http.MethodPost, "/v1/auth/login", "", map[string]string{"email": email, "password": password}, &out)
	if err != nil {
		return userJSON{}, "", fmt.Errorf("login %s: %w", email, err)
	}
	return out.User, out.AccessToken, nil
}

type demoAccount struct {
	Role     string `json:"role"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// loginDemo logs in the data dir's first demo account of role.
func (t *target) loginDemo(ctx context.Context, a *api, role string) (userJSON, string, error) {
	b, err := os.ReadFile(filepath.Join(t.dataDir, "demo-accounts.json"))
	if err != nil {
		return userJSON{}, "", fmt.Errorf("demo accounts (start the node with `outrider dev`): %w", err)
	}
	var accounts []demoAccount
	if err := json.Unmarshal(b, &accounts); err != nil {
		return userJSON{}, "", fmt.Errorf("demo accounts: %w", err)
	}
	for _, acc := range accounts {
		if acc.Role == role {
			return a.login(ctx, acc.Email, acc.Password)
		}
	}
	return userJSON{}, "", fmt.Errorf("no demo %s in %s", role, t.dataDir)
}

// minter signs access tokens the way the node does (transport/httpapi/tokens.go).
type minter struct {
	key []byte
	kid string
	ttl time.Duration
}

func newMinter(secret []byte, ttl time.Duration) *minter {
	sum := sha256.Sum256(secret)
	return &minter{key: secret, kid: hex.EncodeToString(sum[:4]), ttl: ttl}
}

func (t *target) minter() (*minter, error) {
	b, err := os.ReadFile(filepath.Join(t.dataDir, "jwt-secret"))
	if err != nil {
		return nil, fmt.Errorf("the dev node's key: %w", err)
	}
	return newMinter([]byte(strings.TrimSpace(string(b))), 2*time.Hour), nil
}

func (m *minter) token(userID, role string) string {
	now := time.Now()
	c := jwt.MapClaims{"sub": userID, "role": role, "iss": "outrider", "aud": []string{"outrider-api"},
		"iat": now.Unix(), "exp": now.Add(m.ttl).Unix()}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = m.kid
	s, err := tok.SignedString(m.key)
	if err != nil {
		panic(err) // HS256 with a []byte key cannot fail
	}
	return s
}

// newUserID is an id of the shape the API issues, for sessions of users
// that exist only in a token.
func newUserID() string { return "usr_" + ulid.Make().String() }

type orderJSON struct {
	ID       string  `json:"id"`
	Status   string  `json:"status"`
	DriverID *string `json:"driver_id"`
}

// createOrder places an order for customerID as admin.
func (a *api) createOrder(ctx context.Context, admin, customerID string) (orderJSON, error) {
	return a.placeOrder(ctx, admin, customerID, place{"1 Load St", 52.52, 13.405}, place{"2 Load St", 52.53, 13.41}, "")
}

// place is an order's pickup or dropoff.
type place struct {
	address  string
	lat, lng float64
}

func (p place) json() map[string]any {
	return map[string]any{"address": p.address, "lat": p.lat, "lng": p.lng}
}

// placeOrder places a standard order for customerID as admin; dispatch
// is "auto", "manual" or "" (the node's default).
func (a *api) placeOrder(ctx context.Context, admin, customerID string, pickup, dropoff place, dispatch string) (orderJSON, error) {
	body := map[string]any{"customer_id": customerID, "pickup": pickup.json(), "dropoff": dropoff.json(),
		"delivery_option": "standard"}
	if dispatch != "" {
		body["dispatch"] = dispatch
	}
	var o orderJSON
	err := a.call(ctx, http.MethodPost, "/v1/orders", admin, body, &o)
	return o, err
}

func (a *api) assign(ctx context.Context, admin, orderID, driverID string) (orderJSON, error) {
	var o orderJSON
	err := a.call(ctx, http.MethodPost, "/v1/orders/"+orderID+"/assign", admin, map[string]string{"driver_id": driverID}, &o)
	return o, err
}

func (a *api) decline(ctx context.Context, driver, orderID string) (orderJSON, error) {
	var o orderJSON
	err := a.call(ctx, http.MethodPost, "/v1/orders/"+orderID+"/decline", driver, map[string]string{"reason": "load test"}, &o)
	return o, err
}
