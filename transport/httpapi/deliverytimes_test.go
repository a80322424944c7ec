package httpapi_test

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/cmd/outrider/app"
	"github.com/outrider/outrider/e2e"
)

// TestDeliveryTimes serves GET /v1/metrics/delivery-times from a whole
// node, on Postgres and on SQLite, over timeline lines written to its
// store: the answer's shape (null durations on a day without deliveries,
// the open bucket's null bound), the local days of tz, the defaults and
// the validation orders-by-day shares (metricRange), and who may ask. It
// starts nodes, so it does not run in parallel with other such tests.
func TestDeliveryTimes(t *testing.T) {
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			n, a := e2e.Up(t, func(cfg *app.Config) {
				if backend == "sqlite" {
					cfg.SQLitePath = filepath.Join(t.TempDir(), "outrider.db")
				}
			})
			at := func(s string) time.Time {
				v, err := time.Parse(time.RFC3339, s)
				require.NoError(t, err)
				return v
			}
			for _, l := range []actors.TimelineEntry{
				{OrderID: "a", Seq: 1, Status: "pending", At: at("2026-03-02T10:00:00Z")},
				{OrderID: "a", Seq: 2, Status: "delivered", At: at("2026-03-02T10:10:00Z")}, // 600 s
				{OrderID: "b", Seq: 1, Status: "pending", At: at("2026-03-02T09:00:00Z")},
				{OrderID: "b", Seq: 2, Status: "delivered", At: at("2026-03-02T09:30:00Z")}, // 1800 s
				{OrderID: "b", Seq: 3, Status: "delivered", At: at("2026-03-02T09:40:00Z")}, // a proof: no delivery
				{OrderID: "c", Seq: 1, Status: "pending", At: at("2026-03-02T22:00:00Z")},
				{OrderID: "c", Seq: 2, Status: "delivered", At: at("2026-03-02T23:30:00Z")}, // 5400 s, Berlin: 3 March
				{OrderID: "d", Seq: 1, Status: "pending", At: at("2026-03-01T20:00:00Z")},
				{OrderID: "d", Seq: 2, Status: "delivered", At: at("2026-03-02T00:30:00Z")}, // 16200 s
				{OrderID: "f", Seq: 1, Status: "pending", At: at("2026-03-02T08:00:00Z")},
				{OrderID: "f", Seq: 2, Status: "cancelled", At: at("2026-03-02T08:30:00Z")},
			} {
				l.Metadata = map[string]string{}
				require.NoError(t, n.Store().Commit(t.Context(), actors.Commit{Timeline: []actors.TimelineEntry{l}}))
			}

			const path = "/v1/metrics/delivery-times"
			berlin := a.Admin.Get(t, path+"?from=2026-03-01&to=2026-03-03&tz=Europe/Berlin").RequireStatus(t, http.StatusOK)
			require.JSONEq(t, `{
				"series": [
					{"day": "2026-03-01", "delivered": 0, "mean_s": null, "p50_s": null, "p90_s": null, "max_s": null},
					{"day": "2026-03-02", "delivered": 3, "mean_s": 6200, "p50_s": 1800, "p90_s": 16200, "max_s": 16200},
					{"day": "2026-03-03", "delivered": 1, "mean_s": 5400, "p50_s": 5400, "p90_s": 5400, "max_s": 5400}
				],
				"histogram": [
					{"le_minutes": 15, "count": 1}, {"le_minutes": 30, "count": 1}, {"le_minutes": 45, "count": 0},
					{"le_minutes": 60, "count": 0}, {"le_minutes": 90, "count": 1}, {"le_minutes": 120, "count": 0},
					{"le_minutes": 180, "count": 0}, {"le_minutes": null, "count": 1}
				]}`, string(berlin.Body))

			var utc struct {
				Series []struct {
					Day       string `json:"day"`
					Delivered int    `json:"delivered"`
				} `json:"series"`
			}
			a.Admin.Get(t, path+"?from=2026-03-01&to=2026-03-03").Decode(t, http.StatusOK, &utc)
			require.Len(t, utc.Series, 3)
			require.Equal(t, []int{0, 4, 0}, []int{utc.Series[0].Delivered, utc.Series[1].Delivered, utc.Series[2].Delivered},
				"no tz is UTC: c is delivered on 2 March")

			// Defaults: to is today in tz, from 29 days earlier.
			var def struct {
				Series []struct {
					Day string `json:"day"`
				} `json:"series"`
			}
			kiritimati, err := time.LoadLocation("Pacific/Kiritimati")
			require.NoError(t, err)
			before := time.Now().In(kiritimati).Format(time.DateOnly)
			a.Admin.Get(t, path+"?tz=Pacific/Kiritimati").Decode(t, http.StatusOK, &def)
			after := time.Now().In(kiritimati).Format(time.DateOnly)
			require.Len(t, def.Series, 30)
			require.Contains(t, []string{before, after}, def.Series[29].Day, "the default to is today in tz")

			for _, tt := range []struct {
				name, query, field string
			}{
				{"unknown zone", "?from=2026-03-01&to=2026-03-03&tz=Mars/Olympus_Mons", "tz"},
				{"host zone", "?from=2026-03-01&to=2026-03-03&tz=Local", "tz"},
				{"from after to", "?from=2026-03-04&to=2026-03-03", "from"},
				{"not a day", "?from=2026-03-01&to=2026-02-30", "to"},
				{"over a year", "?from=2024-01-01&to=2026-03-03", "from"},
			} {
				p := a.Admin.Get(t, path+tt.query, e2e.InvalidRequest()).Problem(t, http.StatusUnprocessableEntity, "validation_failed")
				require.Equal(t, []string{tt.field}, p.Fields(), tt.name)
			}

			a.Anon().Get(t, path).Problem(t, http.StatusUnauthorized, "unauthorized")
			a.Signup(t).Get(t, path).Problem(t, http.StatusForbidden, "forbidden")
			a.CreateDriver(t, 1, false).Get(t, path).Problem(t, http.StatusForbidden, "forbidden")
		})
	}
}
