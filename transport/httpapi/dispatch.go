package httpapi

import (
	"net/http"
	"time"

	"github.com/outrider/outrider/actors/order"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// dispatchRequest is a new run starting at starts, with the node's
// deadline and attempts.
func (s *Server) dispatchRequest(starts time.Time) *pb.DispatchRequest {
	return &pb.DispatchRequest{StartsAtMs: starts.UnixMilli(),
		DeadlineAtMs: starts.Add(s.cfg.Dispatch.Deadline).UnixMilli(), MaxAttempts: int32(s.cfg.Dispatch.MaxAttempts)}
}

// startDispatch serves POST /v1/orders/:id/dispatch (admins): a new
// automatic dispatch run of a pending order, starting now. It answers
// the order's dispatch record.
func (s *Server) startDispatch(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.id("ord")
	if err != nil {
		return err
	}
	var req struct{}
	if err := s.decode(r, &req, true); err != nil {
		return err
	}
	now := s.now()
	st, err := s.orderState(r, c, id, &pb.OrderCommand{AtMs: now.UnixMilli(),
		Body: &pb.OrderCommand_StartDispatch{StartDispatch: &pb.StartDispatch{Request: s.dispatchRequest(now)}}})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, order.DispatchView(st))
	return nil
}

// getDispatch serves GET /v1/orders/:id/dispatch (admins): the order's
// dispatch mode, run and recorded decisions, from the order itself.
func (s *Server) getDispatch(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := c.id("ord")
	if err != nil {
		return err
	}
	st, err := s.orderState(r, c, id, &pb.OrderCommand{Body: &pb.OrderCommand_Get{Get: &pb.GetOrder{}}})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, order.DispatchView(st))
	return nil
}
