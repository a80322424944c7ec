package e2e

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/wire"
)

// API is a client of one node with its admin logged in, and the steps
// most tests take (sign up, create a driver, place an order) as methods.
// Every call goes through Client, so through the OpenAPI validation.
type API struct {
	*Client
	Admin *Caller
}

// Connect logs the admin in at base and returns the API. The login must
// succeed.
func Connect(t interface {
	TB
	cleaner
}, base, adminEmail, adminPassword string) *API {
	t.Helper()
	a := &API{Client: NewClient(t, base)}
	a.Admin = a.Login(t, adminEmail, adminPassword)
	require.Equal(t, "admin", a.Admin.User.Role)
	return a
}

var seq atomic.Int64

// Unique returns a string unique within the test binary's run.
func Unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), seq.Add(1))
}

// UniqueEmail returns an e-mail address unique within the run.
func UniqueEmail(prefix string) string { return Unique(prefix) + "@example.test" }

// NonexistentID is a well-formed id (prefix "ord", "usr", …) that names
// nothing.
func NonexistentID(prefix string) string { return prefix + "_01ARZ3NDEKTSV4RRFFQ69G5FAV" }

// Login logs a user in.
func (c *Client) Login(t TB, email, password string) *Caller {
	t.Helper()
	var tok wire.Tokens
	c.Anon().Post(t, "/v1/auth/login", map[string]string{"email": email, "password": password}).
		Decode(t, http.StatusOK, &tok)
	return c.FromTokens(tok, password)
}

// FromTokens is the caller an answer of signup, login or refresh makes.
func (c *Client) FromTokens(tok wire.Tokens, password string) *Caller {
	return &Caller{Client: c, Token: tok.AccessToken, Refresh: tok.RefreshToken, User: tok.User,
		Password: password, Header: http.Header{}}
}

// Signup creates a customer through POST /v1/auth/signup.
func (c *Client) Signup(t TB) *Caller {
	t.Helper()
	return c.SignupAs(t, c.Anon())
}

// SignupAs signs a customer up with from's headers (X-Forwarded-For).
func (c *Client) SignupAs(t TB, from *Caller) *Caller {
	t.Helper()
	pw := "password-" + Unique("pw")
	email := UniqueEmail("customer")
	r := from.Post(t, "/v1/auth/signup", map[string]string{"name": "Customer " + email, "email": email, "password": pw})
	var tok wire.Tokens
	r.Decode(t, http.StatusCreated, &tok)
	require.Equal(t, "/v1/me", r.Header.Get("Location"))
	require.Equal(t, "customer", tok.User.Role)
	require.Equal(t, email, tok.User.Email)
	require.Equal(t, "Bearer", tok.TokenType)
	require.Positive(t, tok.ExpiresIn)
	u := c.FromTokens(tok, pw)
	u.Header = from.Header.Clone()
	return u
}

// CreateDriver has the admin create a driver (capacity 0 means the
// default), logs the driver in, and makes them available if asked.
func (a *API) CreateDriver(t TB, capacity int, available bool) *Caller {
	t.Helper()
	pw := "driver-" + Unique("pw")
	email := UniqueEmail("driver")
	req := map[string]any{"name": "Driver " + email, "email": email, "password": pw, "role": "driver"}
	if capacity > 0 {
		req["capacity"] = capacity
	}
	r := a.Admin.Post(t, "/v1/users", req)
	var u wire.User
	r.Decode(t, http.StatusCreated, &u)
	require.Equal(t, "driver", u.Role)
	require.Equal(t, "/v1/drivers/"+u.ID, r.Header.Get("Location"))
	d := a.Login(t, email, pw)
	require.Equal(t, u.ID, d.User.ID)
	if available {
		require.Equal(t, "available", d.SetAvailable(t, true).Status)
	}
	return d
}

// CreateUser has the admin create a user of role (customer, driver or
// admin) and logs them in.
func (a *API) CreateUser(t TB, role string) *Caller {
	t.Helper()
	pw := role + "-" + Unique("pw")
	email := UniqueEmail(role)
	var u wire.User
	a.Admin.Post(t, "/v1/users", map[string]any{"name": role + " " + email, "email": email, "password": pw, "role": role}).
		Decode(t, http.StatusCreated, &u)
	require.Equal(t, role, u.Role)
	return a.Login(t, email, pw)
}

// SetAvailable sets the calling driver's availability.
func (u *Caller) SetAvailable(t TB, available bool) wire.Driver {
	t.Helper()
	var d wire.Driver
	u.Put(t, "/v1/drivers/me/availability", map[string]bool{"available": available}).Decode(t, http.StatusOK, &d)
	require.Equal(t, available, d.Available)
	return d
}

// ValidOrder is a valid create-order request.
func ValidOrder() map[string]any {
	return map[string]any{
		"pickup":          map[string]any{"address": "Alexanderplatz 1, Berlin", "lat": 52.5219, "lng": 13.4132},
		"dropoff":         map[string]any{"address": "Unter den Linden 5, Berlin"},
		"delivery_option": "standard",
		"notes":           "ring twice",
	}
}

// CreateOrder places ValidOrder as u (a customer or an admin).
func (u *Caller) CreateOrder(t TB) wire.Order {
	t.Helper()
	r := u.Post(t, "/v1/orders", ValidOrder())
	var o wire.Order
	r.Decode(t, http.StatusCreated, &o)
	require.Equal(t, "/v1/orders/"+o.ID, r.Header.Get("Location"))
	require.Equal(t, "pending", o.Status)
	require.EqualValues(t, 1, o.Version)
	require.Nil(t, o.DriverID)
	return o
}

// Order reads an order.
func (u *Caller) Order(t TB, id string) wire.Order {
	t.Helper()
	var o wire.Order
	u.Get(t, "/v1/orders/"+id).Decode(t, http.StatusOK, &o)
	return o
}

// Driver reads a driver record.
func (u *Caller) Driver(t TB, id string) wire.Driver {
	t.Helper()
	var d wire.Driver
	u.Get(t, "/v1/drivers/"+id).Decode(t, http.StatusOK, &d)
	return d
}

// Timeline reads an order's timeline.
func (u *Caller) Timeline(t TB, id string) []wire.TimelineEntry {
	t.Helper()
	var tl struct {
		Items []wire.TimelineEntry `json:"items"`
	}
	u.Get(t, "/v1/orders/"+id+"/timeline").Decode(t, http.StatusOK, &tl)
	return tl.Items
}

// OrderAction posts to /v1/orders/{id}/{action} (assign, accept,
// decline, …) and decodes the order; it must answer 200.
func (u *Caller) OrderAction(t TB, id, action string, body any) wire.Order {
	t.Helper()
	var o wire.Order
	u.Post(t, "/v1/orders/"+id+"/"+action, body).Decode(t, http.StatusOK, &o)
	return o
}

// Assign assigns the order to a driver (admin).
func (u *Caller) Assign(t TB, id, driverID string) wire.Order {
	t.Helper()
	o := u.OrderAction(t, id, "assign", map[string]any{"driver_id": driverID})
	require.Equal(t, "assigned", o.Status)
	return o
}

// SetStatus moves an order to status; it must answer 200.
func (u *Caller) SetStatus(t TB, id, status string) wire.Order {
	t.Helper()
	var o wire.Order
	u.Put(t, "/v1/orders/"+id+"/status", map[string]any{"status": status}).Decode(t, http.StatusOK, &o)
	require.Equal(t, status, o.Status)
	return o
}

// Lifecycle is the driver's way from accepted to delivered.
var Lifecycle = []string{"picked_up", "in_transit", "delivered"}

// Deliver takes an order from pending to delivered: the admin assigns it
// to driver, who accepts and moves it through Lifecycle.
func (a *API) Deliver(t TB, id string, driver *Caller) wire.Order {
	t.Helper()
	a.Admin.Assign(t, id, driver.ID())
	o := driver.OrderAction(t, id, "accept", nil)
	for _, st := range Lifecycle {
		o = driver.SetStatus(t, id, st)
	}
	return o
}

// AllOrders pages through GET /v1/orders (query without limit or cursor)
// and returns every order, checking pages do not overlap.
func (u *Caller) AllOrders(t TB, query string, limit int) []wire.Order {
	t.Helper()
	var all []wire.Order
	seen := map[string]bool{}
	cursor := ""
	for range 1000 {
		q := fmt.Sprintf("/v1/orders?limit=%d", limit)
		if query != "" {
			q += "&" + query
		}
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		var p wire.Page[wire.Order]
		u.Get(t, q).Decode(t, http.StatusOK, &p)
		require.LessOrEqual(t, len(p.Items), limit)
		for _, o := range p.Items {
			require.False(t, seen[o.ID], "order %s on two pages", o.ID)
			seen[o.ID] = true
		}
		all = append(all, p.Items...)
		if p.NextCursor == nil {
			return all
		}
		require.Len(t, p.Items, limit, "a page before the last is full")
		cursor = *p.NextCursor
	}
	require.FailNow(t, "paging does not end")
	return nil
}

// IDs are the orders' ids.
func IDs(orders []wire.Order) []string {
	out := make([]string, len(orders))
	for i, o := range orders {
		out[i] = o.ID
	}
	return out
}
