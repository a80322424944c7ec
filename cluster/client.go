package cluster

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/proto/outriderpb"
)

// Kind names of Outrider's actors: the actors' own (package actors).
// Every member registers its actors under these names, and the typed
// client addresses them by these names.
const (
	KindOrder  = actors.KindOrder
	KindDriver = actors.KindDriver
	KindUser   = actors.KindUser
	KindZone   = actors.KindZone
)

// Order sends cmd to the order actor id and returns its reply. A domain
// rejection (other than RetryCode) is a successful reply: inspect
// reply.GetRejection(). Errors and retries are as for Node.Request; a reply
// of another type fails with ErrUnexpectedReply.
func (n *Node) Order(ctx context.Context, id string, cmd *outriderpb.OrderCommand) (*outriderpb.OrderReply, error) {
	return call[*outriderpb.OrderReply](ctx, n, KindOrder, id, cmd)
}

// Driver sends cmd to the driver actor id and returns its reply, with the
// same guarantees as Order.
func (n *Node) Driver(ctx context.Context, id string, cmd *outriderpb.DriverCommand) (*outriderpb.DriverReply, error) {
	return call[*outriderpb.DriverReply](ctx, n, KindDriver, id, cmd)
}

// User sends cmd to the user actor id and returns its reply, with the same
// guarantees as Order.
func (n *Node) User(ctx context.Context, id string, cmd *outriderpb.UserCommand) (*outriderpb.UserReply, error) {
	return call[*outriderpb.UserReply](ctx, n, KindUser, id, cmd)
}

// Zone asks the zone actor (identity a geo.ZoneOf key) a query and returns
// its hits, with the same guarantees as Order. A zone that was not active
// is activated empty and answers no hits.
func (n *Node) Zone(ctx context.Context, zone string, msg *outriderpb.ZoneMessage) (*outriderpb.ZoneHits, error) {
	return call[*outriderpb.ZoneHits](ctx, n, KindZone, zone, msg)
}

// call makes a request and checks the reply's type.
func call[R proto.Message](ctx context.Context, n *Node, kind, id string, cmd proto.Message) (R, error) {
	var zero R
	reply, err := n.Request(ctx, kind, id, cmd)
	if err != nil {
		return zero, err
	}
	typed, ok := reply.(R)
	if !ok {
		return zero, fmt.Errorf("cluster: request %s/%s: %w: got %T, want %T", kind, id, ErrUnexpectedReply, reply, zero)
	}
	return typed, nil
}
