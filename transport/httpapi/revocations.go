package httpapi

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/outrider/outrider/wire"
)

// Revoked access tokens are refused on every node at once (issue #14,
// finding 7). A revocation (logout, a reused refresh token) is a user
// actor's committed event: its commit moves users.tokens_revoked_before
// forward, and the actor publishes it on wire.TokenRevocations. Each
// node's API keeps the recent ones in memory — those younger than the
// access-token lifetime, since older tokens have expired anyway — fed by
// that subject and reloaded from the store at start and every
// RevocationResync, which heals a message lost on the bus.

// RevocationBus subscribes to a core-NATS subject (transport/bus).
type RevocationBus interface {
	Subscribe(subject string, fn func(data []byte)) (stop func(), err error)
}

// RevocationResync is how often the revocations are reloaded.
const RevocationResync = 30 * time.Second

type revocations struct {
	store Store
	ttl   time.Duration
	now   func() time.Time
	log   interface{ Warn(string, ...any) }

	mu     sync.Mutex
	before map[string]time.Time

	stopSub func()
	cancel  context.CancelFunc
	done    chan struct{}
}

func newRevocations(s *Server, bus RevocationBus) (*revocations, error) {
	r := &revocations{store: s.store, ttl: s.cfg.AccessTTL, now: s.now, log: s.log, before: map[string]time.Time{}}
	stop, err := bus.Subscribe(wire.TokenRevocations, func(data []byte) {
		var m wire.TokenRevocation
		if json.Unmarshal(data, &m) == nil && m.UserID != "" {
			r.note(m.UserID, time.UnixMilli(m.BeforeMs))
		}
	})
	if err != nil {
		return nil, err
	}
	r.stopSub = stop
	// Subscribed first, loaded second: nothing falls between the two.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.reload(ctx); err != nil {
		stop()
		return nil, err
	}
	ctx, r.cancel = context.WithCancel(context.Background())
	r.done = make(chan struct{})
	go r.resync(ctx)
	return r, nil
}

func (r *revocations) resync(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(RevocationResync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.reload(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("reload token revocations", "err", err)
			}
		}
	}
}

// reload merges the store's recent revocations and forgets the old ones.
func (r *revocations) reload(ctx context.Context) error {
	since := r.now().Add(-r.ttl - time.Minute) // tokens accepted with clock leeway
	got, err := r.store.TokensRevokedSince(ctx, since)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, at := range r.before {
		if at.Before(since) {
			delete(r.before, id)
		}
	}
	for id, at := range got {
		if at.After(r.before[id]) {
			r.before[id] = at
		}
	}
	return nil
}

// note records that userID's tokens issued before at are revoked.
func (r *revocations) note(userID string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at.After(r.before[userID]) {
		r.before[userID] = at
	}
}

// refuses reports whether a token of userID issued at iat is revoked.
func (r *revocations) refuses(userID string, iat time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.before[userID]
	return ok && iat.Before(at)
}

func (r *revocations) stop() {
	r.stopSub()
	r.cancel()
	<-r.done
}
