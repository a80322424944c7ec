package api_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
	"github.com/outrider/outrider/wire"
)

// TestLastAdminRace (issue 14 probe): two admins, the only active ones,
// act on each other at the same instant — switch off, erase or demote,
// in every pairing — round after round, on Postgres and on SQLite. An
// active admin always remains: one of the two changes goes through and
// the other is refused 409 last_admin by the store's guard in the
// commit (or, when his own account went first, his token is refused,
// 401). Before the guard, off/off, delete/delete and off/delete each
// left no active admin on the first try.
func TestLastAdminRace(t *testing.T) {
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			_, a := e2e.Up(t, func(cfg *app.Config) {
				if backend == "sqlite" {
					cfg.SQLitePath = filepath.Join(t.TempDir(), "outrider.db")
				}
			})
			lastAdminRace(t, a)
		})
	}
}

// adminAct is one admin's move on another: its request.
type adminAct struct {
	name string
	do   func(t e2e.TB, by *e2e.Caller, id string) *e2e.Response
}

var (
	actOff = adminAct{"off", func(t e2e.TB, by *e2e.Caller, id string) *e2e.Response {
		return by.Patch(t, "/v1/users/"+id, map[string]bool{"active": false})
	}}
	actDelete = adminAct{"delete", func(t e2e.TB, by *e2e.Caller, id string) *e2e.Response {
		return by.Delete(t, "/v1/users/"+id)
	}}
	actDemote = adminAct{"demote", func(t e2e.TB, by *e2e.Caller, id string) *e2e.Response {
		return by.Patch(t, "/v1/users/"+id, map[string]string{"role": "customer"})
	}}
)

func lastAdminRace(t *testing.T, a *e2e.API) {
	newAdmin := func(by *e2e.Caller) *e2e.Caller {
		pw, email := "admin-"+e2e.Unique("pw"), e2e.UniqueEmail("admin")
		by.Post(t, "/v1/users", map[string]any{"name": "Admin " + email, "email": email, "password": pw, "role": "admin"}).
			RequireStatus(t, http.StatusCreated)
		return a.Login(t, email, pw)
	}
	activeAdmins := func(by *e2e.Caller) []string {
		var page wire.Page[wire.User]
		by.Get(t, "/v1/users?role=admin&limit=100").Decode(t, http.StatusOK, &page)
		require.Empty(t, page.NextCursor)
		var ids []string
		for _, u := range page.Items {
			if u.Active {
				ids = append(ids, u.ID)
			}
		}
		return ids
	}

	// Exactly two active admins: x and y; the node's first admin is
	// switched off.
	x, y := newAdmin(a.Admin), newAdmin(a.Admin)
	x.Patch(t, "/v1/users/"+a.Admin.ID(), map[string]bool{"active": false}).RequireStatus(t, http.StatusOK)
	require.ElementsMatch(t, []string{x.ID(), y.ID()}, activeAdmins(x))

	pairs := [][2]adminAct{
		{actOff, actOff}, {actDelete, actDelete}, {actOff, actDelete}, {actDelete, actOff},
		{actDemote, actDemote}, {actDemote, actOff}, {actOff, actDemote}, {actDemote, actDelete},
	}
	const rounds = 5
	refused := 0
	for round := range rounds {
		for _, p := range pairs {
			label := fmt.Sprintf("round %d, %s/%s", round, p[0].name, p[1].name)
			callers := [2]*e2e.Caller{x, y}
			g := e2e.NewGoT(t.Context())
			var answers [2]*e2e.Response
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 2 {
				wg.Go(func() {
					<-start
					answers[i] = p[i].do(g, callers[i], callers[1-i].ID())
				})
			}
			close(start)
			wg.Wait()
			require.Empty(t, g.Failures(), label)

			winner := -1
			for i, r := range answers {
				switch {
				case r.Status < 300:
					require.Equal(t, -1, winner, "%s: both went through: %s / %s", label, answers[0], answers[1])
					winner = i
				case r.Status == http.StatusConflict:
					r.Problem(t, http.StatusConflict, "last_admin")
					refused++
				default:
					// His own account went first: his token is refused.
					r.Problem(t, http.StatusUnauthorized, "unauthorized")
				}
			}
			require.NotEqual(t, -1, winner, "%s: neither went through: %s / %s", label, answers[0], answers[1])
			survivor := callers[winner]
			require.Equal(t, []string{survivor.ID()}, activeAdmins(survivor), label)

			// The survivor and a new admin are the next round's two.
			x, y = survivor, newAdmin(survivor)
		}
	}
	t.Logf("%d of %d races refused 409 last_admin, the rest 401", refused, rounds*len(pairs))
	require.Positive(t, refused, "the guard was never reached: no race")
}
