package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

// TestOrderLifecycle drives orders through the HTTP API end to end on one
// node. The subtests run in order: the last one checks the day metrics
// against everything the others did.
func TestOrderLifecycle(t *testing.T) {
	_, a := e2e.Up(t, nil)
	startDay := time.Now().UTC().Format(time.DateOnly)

	t.Run("happy path", func(t *testing.T) {
		customer := a.Signup(t)
		var me wire.User
		customer.Get(t, "/v1/me").Decode(t, http.StatusOK, &me)
		require.Equal(t, customer.User, me)

		driver := a.CreateDriver(t, 0, false)
		d := driver.Driver(t, "me")
		require.Equal(t, driver.User.ID, d.ID)
		require.Equal(t, "offline", d.Status)
		require.False(t, d.Available)
		require.Equal(t, 1, d.Capacity)
		require.Zero(t, d.ActiveOrders)
		require.Nil(t, d.LastLocation)
		var dj wire.Driver
		driver.Put(t, "/v1/drivers/me/availability", map[string]bool{"available": true}).Decode(t, http.StatusOK, &dj)
		require.Equal(t, "available", dj.Status)

		o := customer.CreateOrder(t)
		require.Equal(t, customer.User.ID, o.CustomerID)
		require.Equal(t, "standard", o.DeliveryOption)
		require.Equal(t, "unpaid", o.PaymentStatus)
		require.Equal(t, "ring twice", o.Notes)
		require.Nil(t, o.ScheduledFor)
		require.Equal(t, "Alexanderplatz 1, Berlin", o.Pickup.Address)
		require.NotNil(t, o.Pickup.Lat)
		require.InDelta(t, 52.5219, *o.Pickup.Lat, 1e-9)
		require.Nil(t, o.Dropoff.Lat)

		asg := a.Admin.OrderAction(t, o.ID, "assign", map[string]any{"driver_id": driver.User.ID, "expected_version": 1})
		require.Equal(t, "assigned", asg.Status)
		require.EqualValues(t, 2, asg.Version)
		require.Equal(t, driver.User.ID, asg.Driver())
		d = a.Admin.Driver(t, driver.User.ID)
		require.Equal(t, 1, d.ActiveOrders)
		require.Equal(t, "busy", d.Status)

		acc := driver.OrderAction(t, o.ID, "accept", nil)
		require.Equal(t, "accepted", acc.Status)
		require.EqualValues(t, 3, acc.Version)
		require.Equal(t, driver.User.ID, acc.Driver())

		for i, st := range []string{"picked_up", "in_transit", "delivered"} {
			got := driver.SetStatus(t, o.ID, st)
			require.EqualValues(t, 4+i, got.Version)
			require.Equal(t, driver.User.ID, got.Driver())
		}

		// Everyone who may see it sees the same order.
		final := customer.Order(t, o.ID)
		require.Equal(t, "delivered", final.Status)
		require.EqualValues(t, 6, final.Version)
		require.Equal(t, final, driver.Order(t, o.ID))
		require.Equal(t, final, a.Admin.Order(t, o.ID))
		require.Equal(t, o.CreatedAt, final.CreatedAt)

		tl := customer.Timeline(t, o.ID)
		wantStatus := []string{"pending", "assigned", "accepted", "picked_up", "in_transit", "delivered"}
		wantBy := []*e2e.Caller{customer, a.Admin, driver, driver, driver, driver}
		require.Len(t, tl, len(wantStatus))
		prevAt := ""
		for i, it := range tl {
			require.EqualValues(t, i+1, it.Seq)
			require.Equal(t, wantStatus[i], it.Status)
			require.NotEmpty(t, it.By.UserID)
			require.Equal(t, wantBy[i].User.ID, it.By.UserID, "seq %d", it.Seq)
			require.Equal(t, wantBy[i].User.Role, it.By.Role, "seq %d", it.Seq)
			require.NotNil(t, it.Metadata)
			require.GreaterOrEqual(t, it.At, prevAt, "timeline goes back in time")
			prevAt = it.At
		}
		require.Equal(t, driver.User.ID, tl[1].Metadata["driver_id"])
		for _, viewer := range []*e2e.Caller{driver, a.Admin} {
			require.Equal(t, tl, viewer.Timeline(t, o.ID))
		}

		d = a.Admin.Driver(t, driver.User.ID)
		require.Zero(t, d.ActiveOrders)
		require.Equal(t, "available", d.Status)
		require.Equal(t, d, driver.Driver(t, "me"))
		require.Equal(t, d, driver.Driver(t, driver.User.ID))

		// Terminal: nothing moves a delivered order.
		for _, st := range []string{"cancelled", "failed", "in_transit"} {
			a.Admin.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": st, "reason": "x"}).
				Problem(t, http.StatusConflict, "invalid_transition")
		}
		require.EqualValues(t, 6, a.Admin.Order(t, o.ID).Version)
	})

	t.Run("decline returns the order to pending and frees the driver", func(t *testing.T) {
		customer := a.Signup(t)
		driver := a.CreateDriver(t, 0, true)
		o := customer.CreateOrder(t)
		a.Admin.OrderAction(t, o.ID, "assign", map[string]string{"driver_id": driver.User.ID})
		require.Equal(t, "busy", a.Admin.Driver(t, driver.User.ID).Status)

		dec := driver.OrderAction(t, o.ID, "decline", map[string]string{"reason": "flat tyre"})
		require.Equal(t, "pending", dec.Status)
		require.Nil(t, dec.DriverID)
		require.EqualValues(t, 3, dec.Version)
		d := a.Admin.Driver(t, driver.User.ID)
		require.Zero(t, d.ActiveOrders)
		require.Equal(t, "available", d.Status)

		tl := a.Admin.Timeline(t, o.ID)
		require.Len(t, tl, 3)
		require.Equal(t, "pending", tl[2].Status)
		require.Equal(t, "flat tyre", tl[2].Metadata["reason"])
		require.Equal(t, driver.User.ID, tl[2].Metadata["driver_id"])

		// The driver no longer sees it; it can be assigned again.
		driver.Get(t, "/v1/orders/"+o.ID).Problem(t, http.StatusNotFound, "not_found")
		driver.Post(t, "/v1/orders/"+o.ID+"/decline", nil).Problem(t, http.StatusForbidden, "forbidden")
		again := a.Admin.OrderAction(t, o.ID, "assign", map[string]string{"driver_id": driver.User.ID})
		require.Equal(t, "assigned", again.Status)
		require.EqualValues(t, 4, again.Version)
		// Declining an accepted order is out of state.
		driver.OrderAction(t, o.ID, "accept", nil)
		driver.Post(t, "/v1/orders/"+o.ID+"/decline", nil).Problem(t, http.StatusConflict, "invalid_transition")
		driver.Post(t, "/v1/orders/"+o.ID+"/accept", nil).Problem(t, http.StatusConflict, "invalid_transition")
		require.EqualValues(t, 5, a.Admin.Order(t, o.ID).Version)
	})

	t.Run("cancel and fail", func(t *testing.T) {
		customer := a.Signup(t)
		driver := a.CreateDriver(t, 5, true)

		// Before pickup the customer may cancel, in every state.
		pending := customer.CreateOrder(t)
		c := customer.SetStatus(t, pending.ID, "cancelled")
		require.EqualValues(t, 2, c.Version)
		assigned := customer.CreateOrder(t)
		a.Admin.OrderAction(t, assigned.ID, "assign", map[string]string{"driver_id": driver.User.ID})
		require.Equal(t, 1, a.Admin.Driver(t, driver.User.ID).ActiveOrders)
		customer.SetStatus(t, assigned.ID, "cancelled")
		require.Zero(t, a.Admin.Driver(t, driver.User.ID).ActiveOrders, "cancelling frees the driver")

		// After pickup they may not.
		o := customer.CreateOrder(t)
		a.Admin.OrderAction(t, o.ID, "assign", map[string]string{"driver_id": driver.User.ID})
		driver.OrderAction(t, o.ID, "accept", nil)
		driver.SetStatus(t, o.ID, "picked_up")
		p := customer.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "cancelled"}).
			Problem(t, http.StatusConflict, "invalid_transition")
		require.NotEmpty(t, p.Detail)
		require.Equal(t, "/v1/orders/"+o.ID+"/status", p.Instance)
		// Customers move nothing forward, nor fail orders.
		customer.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "in_transit"}).
			Problem(t, http.StatusForbidden, "forbidden")
		customer.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "failed", "reason": "x"}).
			Problem(t, http.StatusForbidden, "forbidden")
		// Statuses reached by other commands are not status changes.
		a.Admin.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "pending"}, e2e.InvalidRequest()).
			Problem(t, http.StatusConflict, "invalid_transition")
		require.EqualValues(t, 4, customer.Order(t, o.ID).Version)

		// Failing needs a reason.
		fp := driver.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "failed"}).
			Problem(t, http.StatusUnprocessableEntity, "validation_failed")
		require.Contains(t, fp.Detail, "reason")
		require.EqualValues(t, 4, customer.Order(t, o.ID).Version)
		var failed wire.Order
		driver.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "failed", "reason": "customer not home"}).
			Decode(t, http.StatusOK, &failed)
		require.Equal(t, "failed", failed.Status)
		require.EqualValues(t, 5, failed.Version)
		require.Zero(t, a.Admin.Driver(t, driver.User.ID).ActiveOrders)
		tl := customer.Timeline(t, o.ID)
		require.Equal(t, "customer not home", tl[4].Metadata["reason"])
		require.Equal(t, "picked_up", tl[3].Status)
		require.Equal(t, "failed", tl[4].Status)

		// Failing before acceptance is out of state.
		o2 := customer.CreateOrder(t)
		a.Admin.Put(t, "/v1/orders/"+o2.ID+"/status", map[string]string{"status": "failed", "reason": "x"}).
			Problem(t, http.StatusConflict, "invalid_transition")
	})

	t.Run("object-level access", func(t *testing.T) {
		alice, bob := a.Signup(t), a.Signup(t)
		d1, d2 := a.CreateDriver(t, 0, true), a.CreateDriver(t, 0, true)
		o := alice.CreateOrder(t)
		a.Admin.OrderAction(t, o.ID, "assign", map[string]string{"driver_id": d1.User.ID})

		// Another customer, or a driver who is not the order's, learns
		// nothing: 404, as for an order that does not exist.
		for _, path := range []string{"/v1/orders/" + o.ID, "/v1/orders/" + o.ID + "/timeline"} {
			pb := bob.Get(t, path).Problem(t, http.StatusNotFound, "not_found")
			pn := bob.Get(t, "/v1/orders/"+e2e.NonexistentID("ord")).Problem(t, http.StatusNotFound, "not_found")
			require.Equal(t, pn.Title, pb.Title)
			d2.Get(t, path).Problem(t, http.StatusNotFound, "not_found")
		}
		bob.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "cancelled"}).
			Problem(t, http.StatusNotFound, "not_found")
		// Another driver may not accept or decline it.
		d2.Post(t, "/v1/orders/"+o.ID+"/accept", nil).Problem(t, http.StatusForbidden, "forbidden")
		d2.Post(t, "/v1/orders/"+o.ID+"/decline", nil).Problem(t, http.StatusForbidden, "forbidden")
		d2.Put(t, "/v1/orders/"+o.ID+"/status", map[string]string{"status": "picked_up"}).
			Problem(t, http.StatusForbidden, "forbidden")
		// Drivers address only their own record.
		d2.Get(t, "/v1/drivers/"+d1.User.ID).Problem(t, http.StatusNotFound, "not_found")
		a.Admin.Get(t, "/v1/drivers/"+e2e.NonexistentID("usr")).Problem(t, http.StatusNotFound, "not_found")
		// Customers list only their own orders.
		bob.Get(t, "/v1/orders?user="+alice.User.ID).Problem(t, http.StatusForbidden, "forbidden")

		cur := alice.Order(t, o.ID)
		require.Equal(t, "assigned", cur.Status)
		require.EqualValues(t, 2, cur.Version)
		require.Equal(t, d1.User.ID, cur.Driver())
	})

	t.Run("assign conflicts", func(t *testing.T) {
		customer := a.Signup(t)
		offline := a.CreateDriver(t, 0, false)
		d := a.CreateDriver(t, 0, true)
		o := customer.CreateOrder(t)

		a.Admin.Post(t, "/v1/orders/"+o.ID+"/assign", map[string]any{"driver_id": d.User.ID, "expected_version": 5}).
			Problem(t, http.StatusConflict, "version_conflict")
		a.Admin.Post(t, "/v1/orders/"+o.ID+"/assign", map[string]string{"driver_id": offline.User.ID}).
			Problem(t, http.StatusConflict, "driver_unavailable")
		a.Admin.Post(t, "/v1/orders/"+o.ID+"/assign", map[string]string{"driver_id": e2e.NonexistentID("usr")}).
			Problem(t, http.StatusUnprocessableEntity, "driver_not_found")
		require.EqualValues(t, 1, customer.Order(t, o.ID).Version)

		a.Admin.OrderAction(t, o.ID, "assign", map[string]any{"driver_id": d.User.ID, "expected_version": 1})
		a.Admin.Post(t, "/v1/orders/"+o.ID+"/assign", map[string]string{"driver_id": d.User.ID}).
			Problem(t, http.StatusConflict, "order_already_assigned")
		// A driver at capacity takes no second order.
		o2 := customer.CreateOrder(t)
		a.Admin.Post(t, "/v1/orders/"+o2.ID+"/assign", map[string]string{"driver_id": d.User.ID}).
			Problem(t, http.StatusConflict, "driver_unavailable")
		require.EqualValues(t, 1, customer.Order(t, o2.ID).Version)

		// Stale expected_version on a status change.
		d.OrderAction(t, o.ID, "accept", nil)
		d.Put(t, "/v1/orders/"+o.ID+"/status", map[string]any{"status": "picked_up", "expected_version": 2}).
			Problem(t, http.StatusConflict, "version_conflict")
		require.EqualValues(t, 3, customer.Order(t, o.ID).Version)
		var ok wire.Order
		d.Put(t, "/v1/orders/"+o.ID+"/status", map[string]any{"status": "picked_up", "expected_version": 3}).
			Decode(t, http.StatusOK, &ok)
		require.EqualValues(t, 4, ok.Version)
		a.Admin.SetStatus(t, o.ID, "cancelled") // admins cancel until delivered
		require.Zero(t, a.Admin.Driver(t, d.User.ID).ActiveOrders)
	})

	t.Run("lists, filters and paging", func(t *testing.T) {
		customer, other := a.Signup(t), a.Signup(t)
		driver := a.CreateDriver(t, 3, true)
		var created []string
		for range 7 {
			created = append(created, customer.CreateOrder(t).ID)
		}
		other.CreateOrder(t)
		// Newest first, in pages of 3: 3 + 3 + 1, nothing twice, nothing missing.
		var pages [][]string
		cursor := ""
		for {
			q := "/v1/orders?limit=3"
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			var p wire.Page[wire.Order]
			customer.Get(t, q).Decode(t, http.StatusOK, &p)
			pages = append(pages, e2e.IDs(p.Items))
			if p.NextCursor == nil {
				break
			}
			cursor = *p.NextCursor
			require.Less(t, len(pages), 10)
		}
		require.Len(t, pages, 3)
		require.Len(t, pages[0], 3)
		require.Len(t, pages[1], 3)
		require.Len(t, pages[2], 1)
		all := slices.Concat(pages...)
		want := slices.Clone(created)
		slices.Reverse(want)
		require.Equal(t, want, all, "newest first, each order once")

		// Statuses and the admin's user filter.
		a.Admin.OrderAction(t, created[0], "assign", map[string]string{"driver_id": driver.User.ID})
		a.Admin.OrderAction(t, created[1], "assign", map[string]string{"driver_id": driver.User.ID})
		driver.OrderAction(t, created[1], "accept", nil)
		customer.SetStatus(t, created[2], "cancelled")

		statusIDs := func(c *e2e.Caller, query string) []string {
			got := e2e.IDs(c.AllOrders(t, query, 200))
			slices.Sort(got)
			return got
		}
		sorted := func(s ...string) []string { s = slices.Clone(s); slices.Sort(s); return s }
		require.Equal(t, sorted(created[3:]...), statusIDs(customer, "status=pending"))
		require.Equal(t, sorted(created[0], created[1]), statusIDs(customer, "status=assigned,accepted"))
		require.Equal(t, sorted(created[2]), statusIDs(customer, "status=cancelled"))
		require.Empty(t, statusIDs(customer, "status=delivered"))
		require.Equal(t, sorted(created...), statusIDs(a.Admin, "user="+customer.User.ID))
		require.Equal(t, sorted(created...), statusIDs(customer, "user="+customer.User.ID))
		require.Equal(t, sorted(created[3:]...), statusIDs(a.Admin, "user="+customer.User.ID+"&status=pending"))
		// A driver sees only their orders; user=driver for the admin too.
		require.Equal(t, sorted(created[0], created[1]), statusIDs(driver, ""))
		require.Equal(t, sorted(created[0], created[1]), statusIDs(a.Admin, "user="+driver.User.ID))
		require.Equal(t, sorted(created[1]), statusIDs(driver, "status=accepted"))
		// The admin sees everyone's, paging through them all.
		every := a.Admin.AllOrders(t, "", 4)
		require.Subset(t, e2e.IDs(every), created)
		require.Greater(t, len(every), len(created))

		// Drivers list, filtered by status.
		var dl wire.Page[wire.Driver]
		a.Admin.Get(t, "/v1/drivers?status=available&limit=200").Decode(t, http.StatusOK, &dl)
		var found bool
		for _, d := range dl.Items {
			require.Equal(t, "available", d.Status)
			if d.ID == driver.User.ID {
				found = true
				require.Equal(t, 2, d.ActiveOrders)
				require.Equal(t, 3, d.Capacity)
			}
		}
		require.True(t, found, "driver with spare capacity is listed as available")
	})

	t.Run("scheduled orders and admin orders for customers", func(t *testing.T) {
		customer := a.Signup(t)
		when := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Millisecond)
		body := e2e.ValidOrder()
		body["delivery_option"] = "scheduled"
		body["scheduled_for"] = when.Format(time.RFC3339Nano)
		var o wire.Order
		customer.Post(t, "/v1/orders", body).Decode(t, http.StatusCreated, &o)
		require.Equal(t, "scheduled", o.DeliveryOption)
		require.NotNil(t, o.ScheduledFor)
		got, err := time.Parse(time.RFC3339, *o.ScheduledFor)
		require.NoError(t, err)
		require.True(t, when.Equal(got), "scheduled_for %s, want %s", *o.ScheduledFor, when)

		body = e2e.ValidOrder()
		body["customer_id"] = customer.User.ID
		var ao wire.Order
		a.Admin.Post(t, "/v1/orders", body).Decode(t, http.StatusCreated, &ao)
		require.Equal(t, customer.User.ID, ao.CustomerID)
		require.Equal(t, ao, customer.Order(t, ao.ID), "the customer sees the order placed for them")
		tl := customer.Timeline(t, ao.ID)
		require.Equal(t, "admin", tl[0].By.Role)

		// customer_id must name a customer.
		body["customer_id"] = a.Admin.User.ID
		a.Admin.Post(t, "/v1/orders", body).Problem(t, http.StatusUnprocessableEntity, "validation_failed")
		body["customer_id"] = e2e.NonexistentID("usr")
		a.Admin.Post(t, "/v1/orders", body).Problem(t, http.StatusUnprocessableEntity, "validation_failed")
	})

	t.Run("orders by day", func(t *testing.T) {
		// The metric must agree with the orders the admin can list.
		all := a.Admin.AllOrders(t, "", 200)
		want := map[string]int{"created": len(all)}
		for _, o := range all {
			switch o.Status {
			case "delivered", "cancelled", "failed":
				want[o.Status]++
			}
		}
		require.Positive(t, want["delivered"])
		require.Positive(t, want["cancelled"])
		require.Positive(t, want["failed"])
		// Lines after a final status are no transitions (issue #14,
		// finding 8: a proof recorded after delivery counted the order
		// twice): a payment recorded after it must not count it again.
		for _, o := range all {
			switch o.Status {
			case "delivered", "cancelled", "failed":
				a.Admin.Put(t, "/v1/orders/"+o.ID+"/payment", map[string]string{"status": "paid"}).RequireStatus(t, http.StatusOK)
			}
		}
		endDay := time.Now().UTC().Format(time.DateOnly)

		for _, tz := range []string{"", "UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/Argentina/Buenos_Aires"} {
			loc := time.UTC
			if tz != "" {
				var err error
				loc, err = time.LoadLocation(tz)
				require.NoError(t, err)
			}
			now := time.Now().In(loc)
			from := now.AddDate(0, 0, -1).Format(time.DateOnly)
			to := now.AddDate(0, 0, 1).Format(time.DateOnly)
			q := fmt.Sprintf("/v1/metrics/orders-by-day?from=%s&to=%s", from, to)
			if tz != "" {
				q += "&tz=" + url.QueryEscape(tz)
			}
			var m struct {
				Series []struct {
					Day                                   string
					Created, Delivered, Cancelled, Failed int
				} `json:"series"`
			}
			a.Admin.Get(t, q).Decode(t, http.StatusOK, &m)
			require.Len(t, m.Series, 3, tz)
			got := map[string]int{}
			for i, d := range m.Series {
				require.Equal(t, now.AddDate(0, 0, i-1).Format(time.DateOnly), d.Day, tz)
				got["created"] += d.Created
				got["delivered"] += d.Delivered
				got["cancelled"] += d.Cancelled
				got["failed"] += d.Failed
			}
			require.Equal(t, want, got, "tz %q: counts over yesterday..tomorrow", tz)
			require.Zero(t, m.Series[2].Created, "tz %q: nothing tomorrow", tz)
			if (tz == "" || tz == "UTC") && startDay == endDay {
				today := m.Series[1]
				require.Equal(t, startDay, today.Day)
				require.Equal(t, want["created"], today.Created, "everything happened today (UTC)")
			}
		}

		// Defaults: to is today, from 29 days earlier.
		var def struct {
			Series []struct {
				Day string `json:"day"`
			} `json:"series"`
		}
		a.Admin.Get(t, "/v1/metrics/orders-by-day?tz=UTC").Decode(t, http.StatusOK, &def)
		require.Len(t, def.Series, 30)
		require.Equal(t, time.Now().UTC().Format(time.DateOnly), def.Series[29].Day)
	})
}
