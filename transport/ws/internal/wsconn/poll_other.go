//go:build !linux

package wsconn

import (
	"errors"
	"net"
	"time"
)

// Without epoll every session reads on a goroutine of its own; these
// stand-ins are never armed.

// Poller is absent on this system: NewPoller always fails.
type Poller struct{}

// Registration is never made.
type Registration struct{}

// ErrNotPollable is NewPoller's answer on systems without epoll.
var ErrNotPollable = errors.New("no Poller on this system")

// NewPoller reports ErrNotPollable.
func NewPoller(time.Duration) (*Poller, error) { return nil, ErrNotPollable }

// Add reports ErrNotPollable.
func (p *Poller) Add(net.Conn, func()) (*Registration, error) { return nil, ErrNotPollable }

// Arm reports ErrNotPollable.
func (r *Registration) Arm() error { return ErrNotPollable }

// Remove does nothing.
func (r *Registration) Remove() {}

// Close does nothing.
func (p *Poller) Close() {}
