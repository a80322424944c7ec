package httpapi

import (
	"net/http"
	"time"

	"github.com/outrider/outrider/problem"
)

// maxMetricDays bounds the day range of one metrics query.
const maxMetricDays = 366

// metricRange reads the day range every metrics route takes: tz an IANA
// zone (default UTC), to a day YYYY-MM-DD in tz (default today there),
// from another (default 29 days before to, so 30 days in all), from not
// after to and at most maxMetricDays days before it. A bad value is a
// validation_failed error naming its field.
func (s *Server) metricRange(r *http.Request) (from, to, tz string, err error) {
	q := r.URL.Query()
	tz = q.Get("tz")
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		return "", "", "", invalid(problem.FieldError{Field: "tz", Message: "must be an IANA time zone such as Europe/Berlin"})
	}
	from, to = q.Get("from"), q.Get("to")
	if to == "" {
		to = s.now().In(loc).Format(time.DateOnly)
	}
	toDay, err := time.Parse(time.DateOnly, to)
	if err != nil {
		return "", "", "", invalid(problem.FieldError{Field: "to", Message: "must be a date YYYY-MM-DD"})
	}
	if from == "" {
		from = toDay.AddDate(0, 0, -29).Format(time.DateOnly)
	}
	fromDay, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return "", "", "", invalid(problem.FieldError{Field: "from", Message: "must be a date YYYY-MM-DD"})
	}
	if toDay.Before(fromDay) {
		return "", "", "", invalid(problem.FieldError{Field: "from", Message: "must not be after to"})
	}
	if toDay.Sub(fromDay) > maxMetricDays*24*time.Hour {
		return "", "", "", invalid(problem.FieldError{Field: "from", Message: "the range is at most 366 days"})
	}
	return from, to, tz, nil
}

func (s *Server) ordersByDay(w http.ResponseWriter, r *http.Request, c *call) error {
	from, to, tz, err := s.metricRange(r)
	if err != nil {
		return err
	}
	days, err := s.store.OrdersByDay(r.Context(), from, to, tz)
	if err != nil {
		return unavailable(err)
	}
	type day struct {
		Day       string `json:"day"`
		Created   int    `json:"created"`
		Delivered int    `json:"delivered"`
		Cancelled int    `json:"cancelled"`
		Failed    int    `json:"failed"`
	}
	series := make([]day, 0, len(days))
	for _, d := range days {
		series = append(series, day{d.Day, d.Created, d.Delivered, d.Cancelled, d.Failed})
	}
	writeJSON(w, http.StatusOK, map[string]any{"series": series})
	return nil
}
