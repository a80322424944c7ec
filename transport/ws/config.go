package ws

import (
	"math"
	"syscall"
	"time"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/internal/gopool"
)

// Config of the gateway. Zero values take the documented defaults.
type Config struct {
	// MaxMessageBytes is the largest client frame; a larger one closes the
	// session with 1009. Default 4 KiB: the largest legitimate frame (a
	// subscribe or a location fix) is under 300 bytes.
	MaxMessageBytes int64
	// SendQueueSize and SendQueueBytes bound the frames waiting for a
	// client: a send that would pass either cuts the client off with 4008
	// (a slow consumer). Defaults 4,096 frames and 1 MiB (the frames'
	// bytes, counted in full although a frame fanned out is shared by
	// every session it is queued to). The bound must absorb a burst the
	// node makes itself, not only a client that does not read: when the
	// node is starved of CPU for a moment, the bus delivers what it held
	// back at once, and the hub queues it to every watcher faster than the
	// writers drain it — 200–250 location frames per session within
	// 100 ms after a 110 ms stall, at 1,000 frames a second to 1,000
	// watchers on a loaded 2-core machine, which cut off every watcher at
	// the former bound of 256 frames (BENCHMARKS.md, "Side by side with
	// Centrifugo"). A client that stops reading is also caught by
	// WriteTimeout once the socket's buffers fill.
	SendQueueSize, SendQueueBytes int
	// MaxBatchFrames and MaxBatchBytes bound one batch: a session that
	// asked for batches (`?batch=1` on the upgrade) receives the frames
	// queued for it together as one WebSocket message holding a JSON
	// array of frames, at most MaxBatchFrames frames and MaxBatchBytes
	// bytes (brackets and commas included; a frame larger than that goes
	// alone, as itself). Defaults 64 and 16 KiB: one socket write's worth
	// (wsconn.CorkBufferKeep) of ~200-byte location frames. 1 frame turns
	// batching off.
	MaxBatchFrames, MaxBatchBytes int
	// ReadBufferSize and WriteBufferSize are the socket buffers, pooled:
	// an idle session holds neither. Defaults 1 KiB each (at least 64).
	ReadBufferSize, WriteBufferSize int
	// ReadLinger is how long a session's reader waits for the next client
	// frame before it hands the socket back to the node's poller and
	// ends (Linux). Default 200 ms: a driver sending positions at the
	// default LocationRate keeps its reader; an idle socket costs no
	// goroutine.
	ReadLinger time.Duration
	// ReaderKeep is how long a reader goroutine that handed its socket
	// back waits for another readable socket before it ends: readers are
	// kept (internal/gopool) so that each readable socket does not grow
	// a fresh goroutine's stack. Default gopool.DefaultKeep (2 s); they
	// belong to no session. Sessions' writers are kept for as long.
	ReaderKeep time.Duration
	// BlockingReads gives every session a reading goroutine of its own
	// for its whole life, as on systems without epoll (where it is the
	// only way). More memory per idle session; for comparison and tests.
	BlockingReads bool
	// WriteTimeout bounds one write to the socket. Default 10 s.
	WriteTimeout time.Duration
	// PingInterval is how often the server pings; a client that has not
	// answered (any frame or pong) within PongWait is closed. Defaults 25 s
	// and 60 s (below common proxy idle timeouts).
	PingInterval, PongWait time.Duration
	// InboundRate and InboundBurst limit client frames per session;
	// excess frames get an `error` frame with code rate_limited, and a
	// client that sends MaxRateStrikes of those in a row is closed 1008.
	// Defaults 20/s, burst 40, 50 strikes.
	InboundRate    float64
	InboundBurst   int
	MaxRateStrikes int
	// MaxSubscriptions per session. Default 100.
	MaxSubscriptions int
	// MaxSessionsCustomer, MaxSessionsDriver and MaxSessionsAdmin cap
	// the live sessions of one user of that role, over every node: a new
	// session beyond the cap closes the user's oldest with 4009. Defaults
	// 10 (phones, tablets and tabs), 3 (a driver's phone and a spare) and
	// 20 (dispatch consoles).
	MaxSessionsCustomer, MaxSessionsDriver, MaxSessionsAdmin int
	// MaxSessionsPerAddress caps the sessions one client address holds
	// on a node, whatever the accounts (signup is open, so per-user caps
	// alone let one address open sockets without end): beyond it the
	// upgrade is refused 429 rate_limited with Retry-After. Default 256,
	// room for a depot of drivers or an office of dispatchers behind one
	// NAT address.
	MaxSessionsPerAddress int
	// MaxSessionsNode caps the sessions of the node, so sockets cannot
	// take the file descriptors that Postgres, NATS and HTTP need: beyond
	// it the upgrade is refused 503 unavailable with Retry-After (another
	// node may take the client). Default: the process's open-file limit
	// less DescriptorReserve (or a quarter of it, if less).
	MaxSessionsNode int
	// LocationRate is how many location fixes per second a driver's
	// session passes on; faster fixes are dropped (counted, not answered).
	// Default 5: a fix every 200 ms is smoother than any map needs and
	// bounds the load one phone can cause.
	LocationRate float64
	// MaxClockSkew is how far in the future a fix's ts may be (device
	// clocks drift); MaxFixAge how old. Defaults 10 s and 2 min.
	MaxClockSkew, MaxFixAge time.Duration
	// AllowedOrigins is the browser origin allow-list ("*" allows any).
	// Requests without an Origin header (native apps) are allowed.
	AllowedOrigins []string
}

// Defaults of [Config]'s zero fields; cmd/outrider's flags and the
// README's Configuration table use the same values.
const (
	DefaultMaxMessageBytes       = 4 << 10
	DefaultSendQueueSize         = 4096
	DefaultSendQueueBytes        = 1 << 20
	DefaultMaxBatchFrames        = 64
	DefaultMaxBatchBytes         = 16 << 10
	DefaultReadBufferSize        = 1024
	DefaultWriteBufferSize       = 1024
	DefaultReadLinger            = 200 * time.Millisecond
	DefaultWriteTimeout          = 10 * time.Second
	DefaultPingInterval          = 25 * time.Second
	DefaultPongWait              = 60 * time.Second
	DefaultInboundRate           = 20
	DefaultInboundBurst          = 40
	DefaultMaxRateStrikes        = 50
	DefaultMaxSubscriptions      = 100
	DefaultMaxSessionsCustomer   = 10
	DefaultMaxSessionsDriver     = 3
	DefaultMaxSessionsAdmin      = 20
	DefaultMaxSessionsPerAddress = 256
	// DescriptorReserve is how many file descriptors MaxSessionsNode's
	// default leaves to everything else.
	DescriptorReserve   = 1024
	DefaultLocationRate = 5
	DefaultMaxClockSkew = 10 * time.Second
	DefaultMaxFixAge    = 2 * time.Minute
)

func (c *Config) defaults() {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.SendQueueSize <= 0 {
		c.SendQueueSize = DefaultSendQueueSize
	}
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = DefaultSendQueueBytes
	}
	if c.MaxBatchFrames <= 0 {
		c.MaxBatchFrames = DefaultMaxBatchFrames
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = DefaultReadBufferSize
	}
	c.ReadBufferSize = max(c.ReadBufferSize, 64) // a frame header must fit
	if c.ReaderKeep <= 0 {
		c.ReaderKeep = gopool.DefaultKeep
	}
	if c.ReadLinger <= 0 {
		c.ReadLinger = DefaultReadLinger
	}
	if c.WriteBufferSize <= 0 {
		c.WriteBufferSize = DefaultWriteBufferSize
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PongWait <= 0 {
		c.PongWait = DefaultPongWait
	}
	if c.InboundRate <= 0 {
		c.InboundRate = DefaultInboundRate
	}
	if c.InboundBurst <= 0 {
		c.InboundBurst = DefaultInboundBurst
	}
	if c.MaxRateStrikes <= 0 {
		c.MaxRateStrikes = DefaultMaxRateStrikes
	}
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if c.MaxSessionsCustomer <= 0 {
		c.MaxSessionsCustomer = DefaultMaxSessionsCustomer
	}
	if c.MaxSessionsDriver <= 0 {
		c.MaxSessionsDriver = DefaultMaxSessionsDriver
	}
	if c.MaxSessionsAdmin <= 0 {
		c.MaxSessionsAdmin = DefaultMaxSessionsAdmin
	}
	if c.MaxSessionsPerAddress <= 0 {
		c.MaxSessionsPerAddress = DefaultMaxSessionsPerAddress
	}
	if c.MaxSessionsNode <= 0 {
		c.MaxSessionsNode = defaultMaxSessionsNode()
	}
	if c.LocationRate <= 0 {
		c.LocationRate = DefaultLocationRate
	}
	if c.MaxClockSkew <= 0 {
		c.MaxClockSkew = DefaultMaxClockSkew
	}
	if c.MaxFixAge <= 0 {
		c.MaxFixAge = DefaultMaxFixAge
	}
}

// maxSessions is the session cap of role.
func (c *Config) maxSessions(role string) int {
	switch role {
	case actors.RoleDriver:
		return c.MaxSessionsDriver
	case actors.RoleAdmin:
		return c.MaxSessionsAdmin
	}
	return c.MaxSessionsCustomer
}

// defaultMaxSessionsNode is MaxSessionsNode's default: the soft limit on
// open files less a reserve for everything else, DescriptorReserve or a
// quarter of the limit if that is less (so a low limit still leaves
// room: 1,024 gives 768).
func defaultMaxSessionsNode() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > math.MaxInt32 {
		return math.MaxInt32
	}
	return maxSessionsForLimit(int(lim.Cur))
}

// maxSessionsForLimit is the node's session cap under an open-file limit.
func maxSessionsForLimit(limit int) int {
	return max(limit-min(DescriptorReserve, limit/4), 1)
}
