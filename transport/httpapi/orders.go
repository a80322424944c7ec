package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/dispatch/geo"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/problem"
	pb "github.com/outrider/outrider/proto/outriderpb"
	"github.com/outrider/outrider/wire"
)

// idPattern is the shape of every id the API issues: a three-letter
// prefix and a ULID. Anything else cannot exist and is answered 404.
var idPattern = regexp.MustCompile(`^[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}$`)

func (c *call) id(prefix string) (string, error) {
	id := c.params.ByName("id")
	if !idPattern.MatchString(id) || !strings.HasPrefix(id, prefix+"_") {
		return "", errorf(problem.NotFound, "no such resource %q", id)
	}
	return id, nil
}

type placeRequest struct {
	Address string   `json:"address"`
	Lat     *float64 `json:"lat"`
	Lng     *float64 `json:"lng"`
}

func (p *placeRequest) validate(field string) []problem.FieldError {
	var fe []problem.FieldError
	if a := strings.TrimSpace(p.Address); a == "" || len(p.Address) > 500 {
		fe = append(fe, problem.FieldError{Field: field + ".address", Message: "is required, at most 500 characters"})
	}
	if (p.Lat == nil) != (p.Lng == nil) {
		fe = append(fe, problem.FieldError{Field: field, Message: "lat and lng go together"})
	}
	if p.Lat != nil && (math.IsNaN(*p.Lat) || *p.Lat < -90 || *p.Lat > 90) {
		fe = append(fe, problem.FieldError{Field: field + ".lat", Message: "must be between -90 and 90"})
	}
	if p.Lng != nil && (math.IsNaN(*p.Lng) || *p.Lng < -180 || *p.Lng > 180) {
		fe = append(fe, problem.FieldError{Field: field + ".lng", Message: "must be between -180 and 180"})
	}
	return fe
}

func (p *placeRequest) proto() *pb.Place {
	out := &pb.Place{Address: strings.TrimSpace(p.Address)}
	if p.Lat != nil {
		out.HasCoordinates, out.Lat, out.Lng = true, *p.Lat, *p.Lng
	}
	return out
}

type createOrderRequest struct {
	Pickup         *placeRequest `json:"pickup"`
	Dropoff        *placeRequest `json:"dropoff"`
	DeliveryOption string        `json:"delivery_option"`
	ScheduledFor   *string       `json:"scheduled_for"`
	Notes          string        `json:"notes"`
	CustomerID     string        `json:"customer_id"`
	// Dispatch is manual or auto (admins only); default per delivery
	// option (Config.Dispatch.AutoFor).
	Dispatch string `json:"dispatch"`
}

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request, c *call) error {
	var req createOrderRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	var fe []problem.FieldError
	for _, p := range []struct {
		name string
		p    *placeRequest
	}{{"pickup", req.Pickup}, {"dropoff", req.Dropoff}} {
		if p.p == nil {
			fe = append(fe, problem.FieldError{Field: p.name, Message: "is required"})
			continue
		}
		fe = append(fe, p.p.validate(p.name)...)
	}
	switch req.DeliveryOption {
	case order.Standard, order.Express, order.Scheduled:
	default:
		fe = append(fe, problem.FieldError{Field: "delivery_option", Message: "must be standard, express or scheduled"})
	}
	var scheduled time.Time
	if req.ScheduledFor != nil {
		t, err := time.Parse(time.RFC3339, *req.ScheduledFor)
		if err != nil {
			fe = append(fe, problem.FieldError{Field: "scheduled_for", Message: "must be an RFC 3339 timestamp"})
		}
		scheduled = t
	}
	if len(req.Notes) > 2000 {
		fe = append(fe, problem.FieldError{Field: "notes", Message: "must be at most 2000 characters"})
	}
	if req.CustomerID != "" && c.principal.Role != actors.RoleAdmin {
		fe = append(fe, problem.FieldError{Field: "customer_id", Message: "only admins place orders for others"})
	} else if req.CustomerID != "" && !idPattern.MatchString(req.CustomerID) {
		fe = append(fe, problem.FieldError{Field: "customer_id", Message: "is not a user id"})
	}
	switch {
	case req.Dispatch == "":
	case c.principal.Role != actors.RoleAdmin:
		fe = append(fe, problem.FieldError{Field: "dispatch", Message: "only admins choose how an order is dispatched"})
	case req.Dispatch != order.DispatchManual && req.Dispatch != order.DispatchAuto:
		fe = append(fe, problem.FieldError{Field: "dispatch", Message: "must be manual or auto"})
	}
	if len(fe) > 0 {
		return invalid(fe...)
	}
	if req.Dispatch == order.DispatchAuto && req.Pickup.Lat == nil {
		return errorf(problem.LocationRequired, "automatic dispatch needs the pickup's lat and lng")
	}
	if req.CustomerID != "" {
		u, err := s.store.GetUser(r.Context(), req.CustomerID)
		if errors.Is(err, persistence.ErrNotFound) || (err == nil && (u.Role != actors.RoleCustomer || u.Erased)) {
			return invalid(problem.FieldError{Field: "customer_id", Message: "is not a customer"})
		} else if err != nil {
			return unavailable(err)
		}
	}
	create := &pb.CreateOrder{
		CustomerId: req.CustomerID, Pickup: req.Pickup.proto(), Dropoff: req.Dropoff.proto(),
		DeliveryOption: req.DeliveryOption, Notes: req.Notes,
		ProofRequired: slices.Contains(s.cfg.ProofRequiredFor, req.DeliveryOption),
	}
	if req.ScheduledFor != nil {
		create.ScheduledForMs = scheduled.UnixMilli()
	}
	now := s.now()
	// A default of auto needs the pickup's coordinates: an order without
	// them is dispatched by hand (an explicit auto was refused above).
	auto := req.Dispatch == order.DispatchAuto ||
		req.Dispatch == "" && slices.Contains(s.cfg.Dispatch.AutoFor, req.DeliveryOption) && req.Pickup.Lat != nil
	if auto {
		starts := now
		if req.ScheduledFor != nil {
			if lead := scheduled.Add(-s.cfg.Dispatch.Lead); lead.After(now) {
				starts = lead
			}
		}
		create.Dispatch = s.dispatchRequest(starts)
	}
	id := "ord_" + ulid.Make().String()
	if strings.HasPrefix(c.commandID, "idem-") {
		// A retried keyed request must reach the same order.
		id = "ord_" + idempotentULID(c.commandID)
	}
	row, err := s.orderCommand(r, c, id, 0, &pb.OrderCommand{AtMs: now.UnixMilli(), Body: &pb.OrderCommand_Create{Create: create}})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/orders/"+row.ID)
	writeJSON(w, http.StatusCreated, row)
	return nil
}

// idempotentULID derives a ULID-shaped id from a command id, so the same
// Idempotency-Key always names the same new entity.
func idempotentULID(commandID string) string {
	var u ulid.ULID
	copy(u[:], []byte(commandID[len(commandID)-16:]))
	u[0] &= 0x7 // keep the time part within the ULID range
	return u.String()
}

// orderCommand sends cmd to order id's actor and returns the new state.
func (s *Server) orderCommand(r *http.Request, c *call, id string, expected int64, cmd *pb.OrderCommand) (actors.OrderRow, error) {
	cmd.ExpectedVersion = expected
	st, err := s.orderState(r, c, id, cmd)
	if err != nil {
		return actors.OrderRow{}, err
	}
	return order.Row(st), nil
}

// orderState sends cmd, as the caller, to order id's actor and returns
// the order's state after it.
func (s *Server) orderState(r *http.Request, c *call, id string, cmd *pb.OrderCommand) (*pb.OrderState, error) {
	cmd.CommandId = c.commandID
	cmd.By = &pb.Principal{UserId: c.principal.UserID, Role: c.principal.Role}
	if cmd.AtMs == 0 {
		cmd.AtMs = s.now().UnixMilli()
	}
	reply, err := s.actors.Order(r.Context(), id, cmd)
	if err != nil {
		return nil, unavailable(err)
	}
	if rej := reply.GetRejection(); rej != nil {
		return nil, rejected(rej.Code, rej.Message)
	}
	return reply.Order, nil
}

// visibleOrder loads order id from the read model if the caller may see
// it; otherwise it is not_found, whether it exists or not.
func (s *Server) visibleOrder(r *http.Request, c *call) (actors.OrderRow, error) {
	id, err := c.id("ord")
	if err != nil {
		return actors.OrderRow{}, err
	}
	return s.orderVisibleTo(r.Context(), id, c.principal)
}

// orderVisibleTo is visibleOrder for an id from anywhere (a body field).
func (s *Server) orderVisibleTo(ctx context.Context, id string, p Principal) (actors.OrderRow, error) {
	if !idPattern.MatchString(id) || !strings.HasPrefix(id, "ord_") {
		return actors.OrderRow{}, errorf(problem.NotFound, "no such order %q", id)
	}
	row, err := s.store.GetOrder(ctx, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return row, errorf(problem.NotFound, "no such order %s", id)
	}
	if err != nil {
		return row, unavailable(err)
	}
	ok := p.Role == actors.RoleAdmin ||
		(p.Role == actors.RoleCustomer && row.CustomerID == p.UserID) ||
		(p.Role == actors.RoleDriver && row.DriverID == p.UserID)
	if !ok {
		return actors.OrderRow{}, errorf(problem.NotFound, "no such order %s", id)
	}
	return row, nil
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request, c *call) error {
	row, err := s.visibleOrder(r, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, row)
	return nil
}

func (s *Server) timeline(w http.ResponseWriter, r *http.Request, c *call) error {
	row, err := s.visibleOrder(r, c)
	if err != nil {
		return err
	}
	entries, err := s.store.Timeline(r.Context(), row.ID)
	if err != nil {
		return unavailable(err)
	}
	items := make([]wire.TimelineEntry, 0, len(entries))
	for _, e := range entries {
		md := e.Metadata
		if md == nil {
			md = map[string]string{}
		}
		items = append(items, wire.TimelineEntry{Seq: e.Seq, Status: e.Status,
			By: wire.By{UserID: e.ByUserID, Role: e.ByRole}, Metadata: md, At: wire.Timestamp(e.At)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

// paging reads ?limit (1..200, default 50) and the opaque ?cursor.
func paging(r *http.Request) (limit int, after string, err error) {
	limit = 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > 200 {
			return 0, "", invalid(problem.FieldError{Field: "limit", Message: "must be an integer from 1 to 200"})
		}
		limit = n
	}
	if v := r.URL.Query().Get("cursor"); v != "" {
		after, err = decodeCursor(v)
	}
	return limit, after, err
}

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request, c *call) error {
	limit, after, err := paging(r)
	if err != nil {
		return err
	}
	f := persistence.OrderFilter{Limit: limit, After: after}
	q := r.URL.Query()
	if v := q.Get("status"); v != "" {
		for _, st := range strings.Split(v, ",") {
			if !validStatus(st) {
				return invalid(problem.FieldError{Field: "status", Message: "unknown status " + strconv.Quote(st)})
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	switch c.principal.Role {
	case actors.RoleCustomer:
		f.CustomerID = c.principal.UserID
	case actors.RoleDriver:
		f.DriverID = c.principal.UserID
	}
	if u := q.Get("user"); u != "" {
		if c.principal.Role != actors.RoleAdmin && u != c.principal.UserID {
			return errorf(problem.Forbidden, "only admins list other users' orders")
		}
		f.UserID = u
	}
	rows, more, err := s.store.ListOrders(r.Context(), f)
	if err != nil {
		return unavailable(err)
	}
	out := wire.Page[actors.OrderRow]{Items: rows}
	if out.Items == nil {
		out.Items = []actors.OrderRow{}
	}
	if more && len(rows) > 0 {
		cur := encodeCursor(rows[len(rows)-1].ID)
		out.NextCursor = &cur
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func validStatus(st string) bool {
	for _, s := range order.Statuses {
		if s == st {
			return true
		}
	}
	return false
}

type assignRequest struct {
	DriverID        string `json:"driver_id"`
	ExpectedVersion *int64 `json:"expected_version"`
	// OfferTTLs is how long the driver has to accept, in seconds
	// (default Config.OfferTTL).
	OfferTTLs *int `json:"offer_ttl_s"`
}

func expectedVersion(v *int64) (int64, error) {
	if v == nil {
		return 0, nil
	}
	if *v < 1 {
		return 0, invalid(problem.FieldError{Field: "expected_version", Message: "must be at least 1"})
	}
	return *v, nil
}

func (s *Server) assign(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.id("ord")
	if err != nil {
		return err
	}
	var req assignRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if !idPattern.MatchString(req.DriverID) {
		return invalid(problem.FieldError{Field: "driver_id", Message: "is required and must be a driver id"})
	}
	ev, err := expectedVersion(req.ExpectedVersion)
	if err != nil {
		return err
	}
	ttl := s.cfg.OfferTTL
	if req.OfferTTLs != nil {
		ttl = time.Duration(*req.OfferTTLs) * time.Second
		if ttl < MinOfferTTL || ttl > MaxOfferTTL {
			return invalid(problem.FieldError{Field: "offer_ttl_s",
				Message: fmt.Sprintf("must be %d..%d", int(MinOfferTTL.Seconds()), int(MaxOfferTTL.Seconds()))})
		}
	}
	// Every assignment is an offer that expires (DESIGN.md §7): the
	// deadline is fixed here, from this node's clock, with the command's
	// time, which orderCommand stamps from the same clock.
	now := s.now()
	assign := &pb.AssignDriver{DriverId: req.DriverID, OfferExpiresAtMs: now.Add(ttl).UnixMilli()}
	if d, ok := s.offerDistance(r.Context(), id, req.DriverID); ok {
		assign.HasDistance, assign.DistanceM = true, d
	}
	return s.respondOrder(w, r, c, id, ev, &pb.OrderCommand{AtMs: now.UnixMilli(),
		Body: &pb.OrderCommand_Assign{Assign: assign}})
}

func (s *Server) unassign(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.id("ord")
	if err != nil {
		return err
	}
	var req struct {
		Reason          string `json:"reason"`
		ExpectedVersion *int64 `json:"expected_version"`
	}
	if err := s.decode(r, &req, true); err != nil {
		return err
	}
	if len(req.Reason) > 500 {
		return invalid(problem.FieldError{Field: "reason", Message: "must be at most 500 characters"})
	}
	ev, err := expectedVersion(req.ExpectedVersion)
	if err != nil {
		return err
	}
	return s.respondOrder(w, r, c, id, ev, &pb.OrderCommand{Body: &pb.OrderCommand_Unassign{Unassign: &pb.UnassignOrder{Reason: req.Reason}}})
}

// setPayment serves PUT /v1/orders/:id/payment (admins): paid, or
// refunded once paid.
func (s *Server) setPayment(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.id("ord")
	if err != nil {
		return err
	}
	var req struct {
		Status          string `json:"status"`
		Reference       string `json:"reference"`
		ExpectedVersion *int64 `json:"expected_version"`
	}
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	var fe []problem.FieldError
	if req.Status != order.Paid && req.Status != order.Refunded {
		fe = append(fe, problem.FieldError{Field: "status", Message: "must be paid or refunded"})
	}
	if len(req.Reference) > order.MaxPaymentReference {
		fe = append(fe, problem.FieldError{Field: "reference", Message: fmt.Sprintf("must be at most %d characters", order.MaxPaymentReference)})
	}
	if len(fe) > 0 {
		return invalid(fe...)
	}
	ev, err := expectedVersion(req.ExpectedVersion)
	if err != nil {
		return err
	}
	return s.respondOrder(w, r, c, id, ev, &pb.OrderCommand{Body: &pb.OrderCommand_SetPayment{
		SetPayment: &pb.SetPayment{Status: req.Status, Reference: req.Reference}}})
}

func (s *Server) respondOrder(w http.ResponseWriter, r *http.Request, c *call, id string, ev int64, cmd *pb.OrderCommand) error {
	row, err := s.orderCommand(r, c, id, ev, cmd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, row)
	return nil
}

func (s *Server) accept(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.id("ord")
	if err != nil {
		return err
	}
	var req struct{}
	if err := s.decode(r, &req, true); err != nil {
		return err
	}
	return s.respondOrder(w, r, c, id, 0, &pb.OrderCommand{Body: &pb.OrderCommand_Accept{Accept: &pb.AcceptOrder{}}})
}

func (s *Server) decline(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.id("ord")
	if err != nil {
		return err
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if err := s.decode(r, &req, true); err != nil {
		return err
	}
	if len(req.Reason) > 500 {
		return invalid(problem.FieldError{Field: "reason", Message: "must be at most 500 characters"})
	}
	return s.respondOrder(w, r, c, id, 0, &pb.OrderCommand{Body: &pb.OrderCommand_Decline{Decline: &pb.DeclineOrder{Reason: req.Reason}}})
}

type statusRequest struct {
	Status          string `json:"status"`
	Reason          string `json:"reason"`
	ExpectedVersion *int64 `json:"expected_version"`
}

func (s *Server) changeStatus(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.id("ord")
	if err != nil {
		return err
	}
	var req statusRequest
	if err := s.decode(r, &req, false); err != nil {
		return err
	}
	if !validStatus(req.Status) {
		return invalid(problem.FieldError{Field: "status", Message: "must be an order status"})
	}
	if len(req.Reason) > 500 {
		return invalid(problem.FieldError{Field: "reason", Message: "must be at most 500 characters"})
	}
	ev, err := expectedVersion(req.ExpectedVersion)
	if err != nil {
		return err
	}
	return s.respondOrder(w, r, c, id, ev, &pb.OrderCommand{Body: &pb.OrderCommand_ChangeStatus{
		ChangeStatus: &pb.ChangeStatus{Status: req.Status, Reason: req.Reason}}})
}

// offerDistance is how far the driver's last known position is from the
// order's pickup, in metres, for the offer (job.offered's distance_m);
// ok is false when either is unknown. Both are point reads of the read
// model; a failure leaves the distance out rather than the offer.
func (s *Server) offerDistance(ctx context.Context, orderID, driverID string) (float64, bool) {
	o, err := s.store.GetOrder(ctx, orderID)
	if err != nil || o.Pickup.Lat == nil || o.Pickup.Lng == nil {
		return 0, false
	}
	d, err := s.store.GetDriver(ctx, driverID)
	if err != nil || d.LastLocation == nil {
		return 0, false
	}
	return math.Round(geo.DistanceM(*o.Pickup.Lat, *o.Pickup.Lng, d.LastLocation.Lat, d.LastLocation.Lng)), true
}
