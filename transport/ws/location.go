package ws

import (
	"encoding/json"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/driver"
	"github.com/outrider/outrider/problem"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// location takes a driver's fix: validated here (numbers, clock, and
// against the last fix this session passed: not older, no impossible
// speed), thinned to Config.LocationRate, then told to the driver actor,
// which filters the same way against its last fix from any session,
// keeps the last position and fans it out. Fixes are not answered unless
// the frame has an id; a dropped fix is told all the same (dropNotice),
// so that a client is never dropped in silence.
func (s *session) location(f clientFrame) {
	if s.role != actors.RoleDriver {
		s.g.metrics.fixes.WithLabelValues("refused").Inc()
		s.sendError(f.ID, problem.Forbidden, "only drivers send locations")
		return
	}
	now := s.g.now()
	fix, msg := parseFix(f, now, s.g.cfg.MaxClockSkew, s.g.cfg.MaxFixAge)
	if msg != "" {
		s.g.metrics.fixes.WithLabelValues("refused").Inc()
		s.sendError(f.ID, problem.ValidationFailed, msg)
		return
	}
	if reason := driver.AcceptFix(s.lastFix, fix, driver.MaxPlausibleSpeed); reason != driver.FixAccepted {
		s.g.metrics.fixes.WithLabelValues(reason).Inc()
		s.dropNotice(f.ID, now, problem.ValidationFailed, dropReason(reason))
		return
	}
	if s.fixes == nil {
		s.fixes = rate.NewLimiter(rate.Limit(s.g.cfg.LocationRate), max(1, int(s.g.cfg.LocationRate)))
	}
	if !s.fixes.AllowN(now, 1) {
		s.g.metrics.fixes.WithLabelValues("throttled").Inc()
		s.dropNotice(f.ID, now, problem.RateLimited,
			"more than "+strconv.FormatFloat(s.g.cfg.LocationRate, 'f', -1, 64)+" fixes a second; the extra ones are dropped")
		return
	}
	cmd := &pb.DriverCommand{By: &pb.Principal{UserId: s.userID, Role: s.role}, AtMs: now.UnixMilli(),
		Body: &pb.DriverCommand_UpdateLocation{UpdateLocation: &pb.UpdateLocation{Fix: fix}}}
	if err := s.g.drivers.TellDriver(s.userID, cmd); err != nil {
		s.sendError(f.ID, problem.Unavailable, "could not take the fix; send the next one")
		return
	}
	s.lastFix = fix
	s.g.metrics.fixes.WithLabelValues("passed").Inc()
	if f.ID != "" {
		s.ack(f.ID)
	}
}

// dropNoticeEvery bounds how often a session that keeps sending fixes
// the gateway drops is told so, when its frames carry no id.
const dropNoticeEvery = time.Second

// dropNotice tells the client that a fix was dropped: at once when the
// frame has an id (the answer the client asked for), else at most once a
// dropNoticeEvery, counting the fixes without ids dropped since the last
// notice.
func (s *session) dropNotice(id string, now time.Time, code problem.Code, why string) {
	if id != "" {
		s.sendError(id, code, "fix dropped: "+why)
		return
	}
	s.dropped++
	if now.Sub(s.noticeAt) < dropNoticeEvery {
		return
	}
	msg := "fix dropped: " + why
	if s.dropped > 1 {
		msg = strconv.Itoa(s.dropped) + " fixes dropped since the last notice; the last: " + why
	}
	s.dropped, s.noticeAt = 0, now
	s.sendError("", code, msg)
}

// dropReason words driver.AcceptFix's reasons for the client.
func dropReason(reason string) string {
	switch reason {
	case driver.FixStale:
		return "ts is not after the previous fix's"
	case driver.FixJump:
		return "it implies more than " + strconv.FormatFloat(driver.MaxPlausibleSpeed, 'f', -1, 64) +
			" m/s since the previous fix (a GPS jump)"
	}
	return reason
}

// parseFix checks a location frame; msg says what is wrong.
func parseFix(f clientFrame, now time.Time, skew, maxAge time.Duration) (*pb.Fix, string) {
	if f.Lat == nil || f.Lng == nil {
		return nil, "lat and lng are required"
	}
	ts, ok := parseTs(f.Ts)
	if !ok {
		return nil, "ts must be unix milliseconds or an RFC 3339 time"
	}
	switch {
	case ts.After(now.Add(skew)):
		return nil, "ts is in the future"
	case ts.Before(now.Add(-maxAge)):
		return nil, "ts is too old"
	}
	fix := &pb.Fix{Lat: *f.Lat, Lng: *f.Lng, Heading: f.Heading, Speed: f.Speed, Accuracy: f.Accuracy, TsMs: ts.UnixMilli()}
	if !driver.ValidFix(fix) {
		return nil, "lat must be -90..90, lng -180..180, heading 0..360, speed and accuracy ≥ 0"
	}
	return fix, ""
}

func parseTs(raw json.RawMessage) (time.Time, bool) {
	if len(raw) == 0 {
		return time.Time{}, false
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		t, err := time.Parse(time.RFC3339Nano, str)
		return t, err == nil
	}
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// locationFrame is the server → client frame of a driver's live position
// on an order channel.
func locationFrame(channel string, p wire.Fix) []byte {
	b, _ := json.Marshal(struct {
		Type     string `json:"type"`
		Channel  string `json:"channel"`
		DriverID string `json:"driver_id"`
		wire.Position
		Ts string `json:"ts"`
	}{"location", channel, p.DriverID, p.Position, wire.Timestamp(time.UnixMilli(p.TsMs))})
	return b
}
