//go:build !linux

package ws

import (
	"errors"
	"net"
)

// Without epoll every session reads on a goroutine of its own
// (session.readBlocking); these stand-ins are never armed.
type poller struct{}

type pollReg struct{}

var errNotPollable = errors.New("no poller on this system")

func newPoller() (*poller, error) { return nil, errNotPollable }

func (p *poller) add(net.Conn, func()) (*pollReg, error) { return nil, errNotPollable }

func (r *pollReg) arm() error { return errNotPollable }

func (r *pollReg) remove() {}

func (p *poller) close() {}
