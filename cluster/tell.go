package cluster

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	outriderpb "github.com/outrider/outrider/proto/outriderpb"
)

// Tell sends msg to the actor without waiting for an answer: at most once,
// no retry. It is for ephemeral traffic whose loss is harmless because a
// newer message soon replaces it (driver location fixes). The PID comes
// from the cluster's PID cache (the library drops an entry when its
// activation stops); only a miss asks the placement actor, which handles
// one lookup at a time.
func (n *Node) Tell(kind, identity string, msg proto.Message) error {
	c := n.cluster()
	if c == nil {
		return fmt.Errorf("cluster: tell %s/%s: node not running: %w", kind, identity, ErrUnavailable)
	}
	pid, ok := c.PidCache.Get(identity, kind)
	if !ok || pid == nil {
		pid = c.Get(identity, kind)
		if pid == nil {
			return fmt.Errorf("cluster: tell %s/%s: no activation: %w", kind, identity, ErrUnavailable)
		}
		c.PidCache.Set(identity, kind, pid)
	}
	c.ActorSystem.Root.Send(pid, msg)
	return nil
}

// TellDriver tells a driver actor a command (a location fix).
func (n *Node) TellDriver(id string, cmd *outriderpb.DriverCommand) error {
	return n.Tell(KindDriver, id, cmd)
}

// TellUser tells a user actor a command (session renewals and closes).
func (n *Node) TellUser(id string, cmd *outriderpb.UserCommand) error {
	return n.Tell(KindUser, id, cmd)
}

// TellZone tells a zone actor a driver's update or removal (it implements
// the actor host's ZoneTeller). A failure is dropped: the driver's next
// fix, a few seconds later, tells the zone again. Only the first message
// to a zone this node has no PID for waits, for the placement lookup.
func (n *Node) TellZone(zone string, msg *outriderpb.ZoneMessage) {
	_ = n.Tell(KindZone, zone, msg)
}
