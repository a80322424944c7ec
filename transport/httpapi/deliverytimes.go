package httpapi

import "net/http"

// deliveryTimes answers GET /v1/metrics/delivery-times (admins, issue
// #17): per local day of the range (metricRange, as orders-by-day), the
// orders delivered and the mean, median, 90th percentile and longest
// time from their creation to their delivery, in seconds — null on a day
// without deliveries — and a histogram of those times over the range.
func (s *Server) deliveryTimes(w http.ResponseWriter, r *http.Request, c *call) error {
	from, to, tz, err := s.metricRange(r)
	if err != nil {
		return err
	}
	m, err := s.store.DeliveryTimes(r.Context(), from, to, tz)
	if err != nil {
		return unavailable(err)
	}
	type day struct {
		Day       string `json:"day"`
		Delivered int    `json:"delivered"`
		MeanS     *int64 `json:"mean_s"`
		P50S      *int64 `json:"p50_s"`
		P90S      *int64 `json:"p90_s"`
		MaxS      *int64 `json:"max_s"`
	}
	type bucket struct {
		LeMinutes *int `json:"le_minutes"` // null: longer than the last bound
		Count     int  `json:"count"`
	}
	series := make([]day, 0, len(m.Days))
	for _, d := range m.Days {
		row := day{Day: d.Day, Delivered: d.Delivered}
		if d.Delivered > 0 {
			row.MeanS, row.P50S, row.P90S, row.MaxS = &d.MeanS, &d.P50S, &d.P90S, &d.MaxS
		}
		series = append(series, row)
	}
	histogram := make([]bucket, 0, len(m.Histogram))
	for _, b := range m.Histogram {
		row := bucket{Count: b.Count}
		if b.LeMinutes != 0 {
			row.LeMinutes = &b.LeMinutes
		}
		histogram = append(histogram, row)
	}
	writeJSON(w, http.StatusOK, map[string]any{"series": series, "histogram": histogram})
	return nil
}
