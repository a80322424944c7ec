package ws

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/problem"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// Jobs (DESIGN.md §4, §7): a driver's sockets hear job.offered and
// job.withdrawn on user:{id} straight from the committed order event, and
// answer an offer with {"type":"accept" | "decline", "order_id", "id"},
// acked or refused like the HTTP routes.
//
// A job reaches the gateway two ways, and every node holding a socket of
// the driver subscribes to both (two bus subscriptions per driver per
// node): the committing node publishes it at once on
// wire.JobLiveSubject (core NATS, at most once), and the outbox relay
// publishes it on wire.JobSubject once the events before it are stored
// (at least once, in commit order, seconds behind under load). The feed
// passes the first copy of each job id and drops the rest, and drops an
// offer that arrives after its withdrawal.

// jobsRemembered is how many job ids a feed remembers: far more than one
// driver's jobs in the relay's delay behind the live copy.
const jobsRemembered = 64

// watchJobs makes s, a driver's session, hear that driver's jobs. The
// driver's first session on this node subscribes the feed to the bus
// without holding hub.mu (each subscription is a round trip to NATS, and
// thousands of drivers may connect at once); his other sessions wait for
// that to finish, so every session hears the jobs once watchJobs returns.
func (h *hub) watchJobs(s *session) {
	userID := s.userID
	h.mu.Lock()
	f, ok := h.jobs[userID]
	if !ok {
		f = &jobFeed{sessions: map[*session]struct{}{}, seen: map[string]struct{}{}, ready: make(chan struct{})}
		h.jobs[userID] = f
	}
	f.sessions[s] = struct{}{}
	h.mu.Unlock()
	if ok {
		<-f.ready
		return
	}
	defer close(f.ready)
	var stops []func()
	for _, subject := range []string{wire.JobLiveSubject(userID), wire.JobSubject(userID)} {
		stop, err := h.bus.Subscribe(subject, func(data []byte) { h.dispatchJob(userID, data) })
		if err != nil {
			h.log.Warn("cannot follow a driver's jobs", "driver", userID, "err", err)
			for _, stop := range stops {
				stop()
			}
			h.mu.Lock()
			if h.jobs[userID] == f {
				delete(h.jobs, userID) // the next session tries again
			}
			h.mu.Unlock()
			return
		}
		stops = append(stops, stop)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	f.stops = stops
	if h.jobs[userID] != f { // his sessions all ended meanwhile
		f.stopAll()
	}
}

// unwatchJobs forgets s; the driver's last session on this node ends the
// subscriptions (or, while they are being made, leaves watchJobs to end
// them).
func (h *hub) unwatchJobs(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.jobs[s.userID]
	if !ok {
		return
	}
	delete(f.sessions, s)
	if len(f.sessions) == 0 {
		f.stopAll()
		f.stops = nil
		delete(h.jobs, s.userID)
	}
}

// jobFeed is one driver's jobs on this node. Guarded by hub.mu; ready
// closes when the first session's watchJobs has subscribed it (or
// failed to).
type jobFeed struct {
	stops    []func() // set once its bus subscriptions are made
	ready    chan struct{}
	sessions map[*session]struct{}
	// seen holds the last jobsRemembered keys passed (job ids, and
	// "withdrawn:<offer id>" for withdrawn offers), oldest first in order.
	seen  map[string]struct{}
	order []string
}

func (f *jobFeed) stopAll() {
	for _, stop := range f.stops {
		stop()
	}
}

// pass reports whether j is news to the feed, and remembers it. A job
// with no id (committed by a node older than the live copies, so relayed
// only) always passes.
func (f *jobFeed) pass(j wire.Job) bool {
	if j.ID == "" {
		return true
	}
	if _, dup := f.seen[j.ID]; dup {
		return false
	}
	if j.Event == wire.JobOffered && j.OfferID != "" {
		if _, gone := f.seen["withdrawn:"+j.OfferID]; gone {
			return false // the relay's late copy of an offer already taken back
		}
	}
	f.remember(j.ID)
	if j.Event == wire.JobWithdrawn && j.OfferID != "" {
		f.remember("withdrawn:" + j.OfferID)
	}
	return true
}

func (f *jobFeed) remember(key string) {
	f.seen[key] = struct{}{}
	f.order = append(f.order, key)
	if len(f.order) > jobsRemembered {
		delete(f.seen, f.order[0])
		f.order = f.order[1:]
	}
}

// jobFrame is the event frame of a job on the driver's user channel.
type jobFrame struct {
	Type    string   `json:"type"`
	Channel string   `json:"channel"`
	Seq     int64    `json:"seq"`
	Event   string   `json:"event"`
	Data    wire.Job `json:"data"`
	At      string   `json:"at"`
}

func (h *hub) dispatchJob(driverID string, data []byte) {
	var j wire.Job
	if err := json.Unmarshal(data, &j); err != nil || j.DriverID != driverID {
		h.log.Warn("undecodable job", "driver", driverID, "err", err)
		return
	}
	frame, err := json.Marshal(jobFrame{Type: "event", Channel: "user:" + driverID, Event: j.Event, Data: j, At: j.At})
	if err != nil {
		return
	}
	h.mu.Lock()
	f := h.jobs[driverID]
	if f == nil || !f.pass(j) {
		h.mu.Unlock()
		if f != nil {
			h.metrics.jobCopies.Inc()
		}
		return
	}
	targets := make([]*session, 0, len(f.sessions))
	for s := range f.sessions {
		targets = append(targets, s)
	}
	h.mu.Unlock()
	for _, s := range targets {
		s.send(frame)
	}
	h.metrics.jobs.WithLabelValues(j.Event).Add(float64(len(targets)))
}

// answerTimeout bounds a socket answer's round trip to the order actor,
// the cluster's own retries included.
const answerTimeout = 15 * time.Second

// answerSeq makes the command ids of socket answers unique per node run.
var answerSeq atomic.Int64

// answer runs a driver's accept or decline of order f.OrderID off the
// reading path and acks it, or sends the refusal as an error frame with
// the code the HTTP route would answer.
func (s *session) answer(f clientFrame) {
	if s.role != actors.RoleDriver {
		s.sendError(f.ID, problem.Forbidden, "only drivers answer offers")
		return
	}
	if f.OrderID == "" {
		s.sendError(f.ID, problem.ValidationFailed, "order_id is required")
		return
	}
	cmd := &pb.OrderCommand{
		CommandId: "ws:" + s.id + ":" + strconv.FormatInt(answerSeq.Add(1), 10),
		By:        &pb.Principal{UserId: s.userID, Role: s.role},
		AtMs:      s.g.now().UnixMilli(),
	}
	if f.Type == "accept" {
		cmd.Body = &pb.OrderCommand_Accept{Accept: &pb.AcceptOrder{}}
	} else {
		cmd.Body = &pb.OrderCommand_Decline{Decline: &pb.DeclineOrder{}}
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), answerTimeout)
		defer cancel()
		reply, err := s.g.drivers.Order(ctx, f.OrderID, cmd)
		switch {
		case err != nil:
			s.sendError(f.ID, problem.Unavailable, "the order did not answer in time; try again")
		case reply.GetRejection() != nil:
			// The domain's codes are the catalogue's names (offer_expired,
			// forbidden, invalid_transition, not_found, …).
			code, ok := problem.Lookup(reply.GetRejection().GetCode())
			if !ok {
				code = problem.Internal
			}
			s.sendError(f.ID, code, reply.GetRejection().GetMessage())
		default:
			s.ack(f.ID)
		}
	}()
}
