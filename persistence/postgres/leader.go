package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// LeaderHeartbeat is how often a held leadership pings its connection. A
// leader whose connection died (Postgres restarted, the backend was
// terminated, the network broke) learns it within about this long and
// closes its held channel; meanwhile the server has already released the
// lock, so for at most one heartbeat two nodes may both believe they lead.
// Callers must tolerate that (the outbox relay does: JetStream
// de-duplicates by message id and it publishes per subject in order).
const LeaderHeartbeat = time.Second

// Leader is a cluster-wide leadership for one named role (e.g. the outbox
// relay), held as a session-level Postgres advisory lock
// (pg_try_advisory_lock) on a connection taken out of the pool for as long
// as leadership lasts. The lock lives exactly as long as that session, so
// a node that dies or loses its connection loses leadership with it.
//
// Leaders of one name in one schema exclude each other; the key includes
// the schema, so isolated test schemas on one database do not contend.
// A Leader is safe for concurrent use; each successful TryLead is one
// term, ended by its release function or by the loss of its connection.
type Leader struct {
	pool *pgxpool.Pool
	name string
	key  int64
}

// Leader returns the leadership named name in this store's schema.
func (s *Store) Leader(name string) *Leader {
	h := fnv.New64a()
	h.Write([]byte("outrider/leader/" + s.schema + "/" + name))
	return &Leader{pool: s.pool, name: name, key: int64(h.Sum64())}
}

// Key is the advisory lock key: in pg_locks it shows as classid (the high
// 32 bits) and objid (the low 32 bits) with objsubid 1, which is how an
// operator finds the leading backend.
func (l *Leader) Key() int64 { return l.key }

// TryLead tries once, without waiting, to become leader. When another
// session leads it returns ok false and a nil error. When it succeeds, held
// stays open while leadership lasts and is closed when it ends — on
// release, or when the heartbeat finds the connection broken. release
// unlocks and returns the connection to the pool (a connection that cannot
// unlock is closed instead, which releases the lock too); it is idempotent
// and returns once held is closed. ctx bounds only the attempt itself.
func (l *Leader) TryLead(ctx context.Context) (held <-chan struct{}, release func(), ok bool, err error) {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, false, fmt.Errorf("lead %s: acquire connection: %w", l.name, err)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", l.key).Scan(&got); err != nil {
		// The lock may have been taken before the error reached us: drop
		// the session rather than return it to the pool possibly locked.
		closeConn(conn)
		return nil, nil, false, fmt.Errorf("lead %s: try advisory lock: %w", l.name, err)
	}
	if !got {
		conn.Release()
		return nil, nil, false, nil
	}
	t := &term{conn: conn, key: l.key, held: make(chan struct{}), stop: make(chan struct{})}
	go t.watch()
	return t.held, t.release, true, nil
}

// term is one held leadership. Only watch uses conn once TryLead returns.
type term struct {
	conn *pgxpool.Conn
	key  int64
	held chan struct{} // closed by watch when the term ends
	stop chan struct{} // closed by release
	once sync.Once
}

// watch pings the connection every LeaderHeartbeat until release or a
// failed ping, then gives the connection back and closes held.
func (t *term) watch() {
	defer close(t.held)
	tick := time.NewTicker(LeaderHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			ctx, cancel := context.WithTimeout(context.Background(), LeaderHeartbeat)
			var unlocked bool
			err := t.conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", t.key).Scan(&unlocked)
			cancel()
			if err != nil || !unlocked {
				closeConn(t.conn)
				return
			}
			t.conn.Release()
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), LeaderHeartbeat)
			err := t.conn.Ping(ctx)
			cancel()
			if err != nil {
				closeConn(t.conn)
				return
			}
		}
	}
}

func (t *term) release() {
	t.once.Do(func() { close(t.stop) })
	<-t.held
}

// closeConn closes an acquired connection's session (ending any advisory
// lock it holds) and hands it back; the pool discards closed connections.
func closeConn(c *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), LeaderHeartbeat)
	defer cancel()
	_ = c.Conn().Close(ctx) // the session is gone either way
	c.Release()
}
