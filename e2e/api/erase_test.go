package api_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/persistence/postgres/pgtest"
	"github.com/outrider/outrider/wire"
)

// TestEraseLeavesNothingIdentifying (issue #14): a customer and a driver
// with distinctive names, e-mails, phones, addresses, notes and reasons
// gather everything the system stores about a person — journal events
// and snapshots, orders and their timelines, notifications (the
// driver's quote the addresses), failed logins, refresh tokens,
// Idempotency-Key answers, a location history — then an admin erases
// both. Every column of every table of the database (listed from the
// database's own catalogue, so a new table is covered without a change
// here) is then searched for every distinctive string, on Postgres and
// on SQLite. Their orders stay, with their ids.
func TestEraseLeavesNothingIdentifying(t *testing.T) {
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			var scan func(t *testing.T, needle string) []string
			n, a := e2e.Up(t, func(cfg *app.Config) {
				if backend == "sqlite" {
					cfg.SQLitePath = filepath.Join(t.TempDir(), "outrider.db")
					scan = sqliteScanner(t, cfg.SQLitePath)
				} else {
					scan = postgresScanner(t, cfg.PGSchema)
				}
			})
			eraseScenario(t, n, a, scan)
		})
	}
}

func mark() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func eraseScenario(t *testing.T, n *app.Node, a *e2e.API, scan func(t *testing.T, needle string) []string) {
	m, d := mark(), mark()
	pii := []string{
		"Zebulon Vantablack " + m, "zebulon." + m + "@example.test", "+49 30 " + m, "+49 40 " + m,
		"17 Quagmire Lane " + m, "3 Plugh Court " + m, "leave it with Xyzzy " + m, "Vantablack was out " + m,
		"changed my mind " + m, "52.13" + m[:4],
		"Driverina Frobozz " + d, "driverina." + d + "@example.test", "+33 1 " + d,
	}
	lat := 52.13 + float64(hexDigits(m[:4]))/1e6
	pii[9] = fmt.Sprintf("%g", lat)

	// The customer signs up, changes his phone, places two orders.
	var tok wire.Tokens
	a.Anon().Post(t, "/v1/auth/signup", map[string]string{"name": pii[0], "email": pii[1], "password": "grape-lantern-42",
		"phone": pii[2]}).Decode(t, http.StatusCreated, &tok)
	customer := a.FromTokens(tok, "grape-lantern-42")
	customer.Patch(t, "/v1/me", map[string]string{"phone": pii[3]}, e2e.IdempotencyKey(e2e.Unique("k"))).RequireStatus(t, http.StatusOK)
	place := func(notes string) wire.Order {
		var o wire.Order
		customer.Post(t, "/v1/orders", map[string]any{
			"pickup":  map[string]any{"address": pii[4], "lat": lat, "lng": 13.4},
			"dropoff": map[string]any{"address": pii[5]}, "delivery_option": "standard", "notes": notes,
		}, e2e.IdempotencyKey(e2e.Unique("k"))).Decode(t, http.StatusCreated, &o)
		return o
	}
	delivered, cancelled := place(pii[6]), place(pii[6])

	// An admin creates the driver (his answer, stored for the key,
	// holds the driver's e-mail), who declines once with a reason, then
	// delivers, streaming his position.
	a.Admin.Post(t, "/v1/users", map[string]any{"name": pii[10], "email": pii[11], "password": "grape-lantern-42",
		"phone": pii[12], "role": "driver"}, e2e.IdempotencyKey(e2e.Unique("k"))).RequireStatus(t, http.StatusCreated)
	driver := a.Login(t, pii[11], "grape-lantern-42")
	driver.SetAvailable(t, true)
	a.Admin.Assign(t, delivered.ID, driver.ID())
	driver.OrderAction(t, delivered.ID, "decline", map[string]string{"reason": pii[7]})
	ws := e2e.Dial(t, "driver", n.Addr(), driver.Token, e2e.SkipNotifications)
	ws.Send(map[string]any{"type": "location", "lat": lat, "lng": 13.4, "ts": time.Now().UnixMilli()})
	a.Deliver(t, delivered.ID, driver)
	customer.Put(t, "/v1/orders/"+cancelled.ID+"/status", map[string]string{"status": "cancelled", "reason": pii[8]}).
		RequireStatus(t, http.StatusOK)
	// Two failed logins: the throttle counts them by e-mail.
	for range 2 {
		a.Anon().Post(t, "/v1/auth/login", map[string]string{"email": pii[1], "password": "not-his-password"}).
			Problem(t, http.StatusUnauthorized, "unauthorized")
	}
	// Everything has landed: the driver's job notifications (which quote
	// the addresses), the customer's last one and the driver's fix.
	e2e.Eventually(t, e2e.EventWait, func() bool {
		var dx, cx exportJSON
		a.Admin.Get(t, "/v1/users/"+driver.ID()+"/export").Decode(t, http.StatusOK, &dx)
		a.Admin.Get(t, "/v1/users/"+customer.ID()+"/export").Decode(t, http.StatusOK, &cx)
		jobs := 0
		for _, n := range dx.Notifications {
			if n["type"] == "order.assigned" {
				jobs++
			}
		}
		last := false
		for _, n := range cx.Notifications {
			last = last || n["type"] == "order.status_changed" && strings.Contains(fmt.Sprint(n["payload"]), "delivered")
		}
		return jobs == 2 && last && len(dx.LocationHistory) == 1
	}, "the worker never stored the notifications and the fix")
	for _, s := range pii {
		require.NotEmpty(t, scan(t, s), "the scan does not find %q before the erasure: it would find nothing after", s)
	}

	a.Admin.Delete(t, "/v1/users/"+customer.ID(), e2e.IdempotencyKey(e2e.Unique("k"))).RequireStatus(t, http.StatusNoContent)
	a.Admin.Delete(t, "/v1/users/"+driver.ID()).RequireStatus(t, http.StatusNoContent)
	require.Equal(t, 4001, ws.CloseCode(e2e.EventWait), "the driver's socket closes (revoked)")

	for _, s := range pii {
		require.Empty(t, scan(t, s), "%q survived the erasure", s)
	}
	for _, id := range []string{customer.ID(), driver.ID()} {
		for _, q := range []string{"refresh_tokens WHERE user_id", "notifications WHERE user_id",
			"location_history WHERE driver_id", "idempotency_keys WHERE scope"} {
			require.Empty(t, scan(t, "count:"+q+"|"+id), "%s = %s", q, id)
		}
	}

	// The orders stay, with their statuses and the erased ids.
	o := a.Admin.Order(t, delivered.ID)
	require.Equal(t, "delivered", o.Status)
	require.Equal(t, customer.ID(), o.CustomerID)
	require.Equal(t, driver.ID(), *o.DriverID)
	require.Equal(t, order.ErasedAddress, o.Pickup.Address)
	require.Equal(t, order.ErasedAddress, o.Dropoff.Address)
	require.Nil(t, o.Pickup.Lat)
	require.Empty(t, o.Notes)
	require.Equal(t, "cancelled", a.Admin.Order(t, cancelled.ID).Status)

	// The accounts are gone: no login, no token, no refresh; the e-mail
	// is free for a new account.
	a.Anon().Post(t, "/v1/auth/login", map[string]string{"email": pii[1], "password": "grape-lantern-42"}).
		Problem(t, http.StatusUnauthorized, "unauthorized")
	customer.Get(t, "/v1/me").Problem(t, http.StatusUnauthorized, "unauthorized")
	a.Anon().Post(t, "/v1/auth/refresh", map[string]string{"refresh_token": customer.Refresh}).
		Problem(t, http.StatusUnauthorized, "unauthorized")
	a.Anon().Post(t, "/v1/auth/signup", map[string]string{"name": "Someone New", "email": pii[1], "password": "grape-lantern-42"}).
		RequireStatus(t, http.StatusCreated)
}

// hexDigits reads s as a hexadecimal number.
func hexDigits(s string) int {
	var v int
	_, _ = fmt.Sscanf(s, "%x", &v)
	return v % 10000
}

// postgresScanner returns where needle occurs in schema: every column of
// every table information_schema lists, bytea searched for its UTF-8
// bytes and everything else as text. A needle "count:<table WHERE
// column>|<value>" instead lists the rows where column equals value.
func postgresScanner(t *testing.T, schema string) func(t *testing.T, needle string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.URL())
	require.NoError(t, err, "postgres is required")
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return func(t *testing.T, needle string) []string {
		ctx := t.Context()
		if q, ok := strings.CutPrefix(needle, "count:"); ok {
			where, value, _ := strings.Cut(q, "|")
			var n int
			require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema}.Sanitize()+"."+where+" = $1", value).Scan(&n))
			if n > 0 {
				return []string{fmt.Sprintf("%d rows", n)}
			}
			return nil
		}
		rows, err := conn.Query(ctx, `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
			JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
			WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE' ORDER BY 1, 2`, schema)
		require.NoError(t, err)
		type col struct{ table, column, typ string }
		var cols []col
		for rows.Next() {
			var c col
			require.NoError(t, rows.Scan(&c.table, &c.column, &c.typ))
			cols = append(cols, c)
		}
		require.NoError(t, rows.Err())
		require.Greater(t, len(cols), 40, "the catalogue lists the tables")
		var found []string
		for _, c := range cols {
			ident := pgx.Identifier{c.column}.Sanitize()
			cond := "position($1 IN " + ident + "::text) > 0"
			if c.typ == "bytea" {
				cond = "position(convert_to($1, 'UTF8') IN " + ident + ") > 0"
			}
			var n int
			q := "SELECT count(*) FROM " + pgx.Identifier{schema, c.table}.Sanitize() + " WHERE " + cond
			require.NoError(t, conn.QueryRow(ctx, q, needle).Scan(&n), q)
			if n > 0 {
				found = append(found, fmt.Sprintf("%s.%s (%d rows)", c.table, c.column, n))
			}
		}
		return found
	}
}

// sqliteScanner is postgresScanner for the SQLite file at path: every
// column of every table sqlite_master lists, compared as bytes.
func sqliteScanner(t *testing.T, path string) func(t *testing.T, needle string) []string {
	return func(t *testing.T, needle string) []string {
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
		require.NoError(t, err)
		defer db.Close()
		ctx := t.Context()
		if q, ok := strings.CutPrefix(needle, "count:"); ok {
			where, value, _ := strings.Cut(q, "|")
			var n int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM "+where+" = ?", value).Scan(&n))
			if n > 0 {
				return []string{fmt.Sprintf("%d rows", n)}
			}
			return nil
		}
		rows, err := db.QueryContext(ctx, `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
			WHERE m.type = 'table' ORDER BY 1, 2`)
		require.NoError(t, err)
		var cols [][2]string
		for rows.Next() {
			var c [2]string
			require.NoError(t, rows.Scan(&c[0], &c[1]))
			cols = append(cols, c)
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		require.Greater(t, len(cols), 40, "the catalogue lists the tables")
		var found []string
		for _, c := range cols {
			var n int
			q := fmt.Sprintf(`SELECT count(*) FROM "%s" WHERE instr(CAST("%s" AS BLOB), CAST(? AS BLOB)) > 0`, c[0], c[1])
			require.NoError(t, db.QueryRowContext(ctx, q, needle).Scan(&n), q)
			if n > 0 {
				found = append(found, fmt.Sprintf("%s.%s (%d rows)", c[0], c[1], n))
			}
		}
		return found
	}
}

// TestEraseRules (issue #14): who may be erased when, and what an erased
// account is afterwards.
func TestEraseRules(t *testing.T) {
	_, a := e2e.Up(t, nil)
	a.Admin.Delete(t, "/v1/users/"+a.Admin.ID()).Problem(t, http.StatusUnprocessableEntity, "cannot_erase_self")
	a.Admin.Delete(t, "/v1/users/"+e2e.NonexistentID("usr")).Problem(t, http.StatusNotFound, "not_found")

	// A customer's order under way holds his erasure back until it ends.
	customer := a.Signup(t)
	o := customer.CreateOrder(t)
	a.Admin.Delete(t, "/v1/users/"+customer.ID()).Problem(t, http.StatusConflict, "user_has_active_orders")
	customer.Get(t, "/v1/me").RequireStatus(t, http.StatusOK) // nothing happened
	customer.SetStatus(t, o.ID, "cancelled")

	// So does an order a driver accepted; an offer he has not answered
	// is withdrawn.
	drv := a.CreateDriver(t, 2, true)
	accepted, offered := customer.CreateOrder(t), customer.CreateOrder(t)
	a.Admin.Assign(t, accepted.ID, drv.ID())
	drv.OrderAction(t, accepted.ID, "accept", nil)
	a.Admin.Assign(t, offered.ID, drv.ID())
	a.Admin.Delete(t, "/v1/users/"+drv.ID()).Problem(t, http.StatusConflict, "user_has_active_orders")
	for _, st := range e2e.Lifecycle {
		drv.SetStatus(t, accepted.ID, st)
	}
	a.Admin.Delete(t, "/v1/users/"+drv.ID()).RequireStatus(t, http.StatusNoContent)
	require.Equal(t, "pending", a.Admin.Order(t, offered.ID).Status, "his open offer was withdrawn")
	customer.SetStatus(t, offered.ID, "cancelled")

	a.Admin.Delete(t, "/v1/users/"+customer.ID()).RequireStatus(t, http.StatusNoContent)
	a.Admin.Delete(t, "/v1/users/"+customer.ID()).RequireStatus(t, http.StatusNoContent) // a repeat finishes, changes nothing

	// An erased account is gone everywhere but in his orders' ids.
	for _, id := range []string{customer.ID(), drv.ID()} {
		a.Admin.Patch(t, "/v1/users/"+id, map[string]string{"name": "Back"}).Problem(t, http.StatusNotFound, "not_found")
		a.Admin.Get(t, "/v1/users/"+id+"/export").Problem(t, http.StatusNotFound, "not_found")
	}
	var page wire.Page[wire.User]
	a.Admin.Get(t, "/v1/users?limit=100").Decode(t, http.StatusOK, &page)
	for _, u := range page.Items {
		require.NotContains(t, []string{customer.ID(), drv.ID()}, u.ID, "an erased account is not listed")
	}
	a.Admin.Get(t, "/v1/drivers/"+drv.ID()).Problem(t, http.StatusNotFound, "not_found") // his record stays, for his orders' sake, unlisted
	require.Equal(t, customer.ID(), a.Admin.Order(t, accepted.ID).CustomerID)
	a.Admin.Post(t, "/v1/orders", map[string]any{"customer_id": customer.ID(), "pickup": map[string]any{"address": "A"},
		"dropoff": map[string]any{"address": "B"}, "delivery_option": "standard"}).Problem(t, http.StatusUnprocessableEntity, "validation_failed")
}
