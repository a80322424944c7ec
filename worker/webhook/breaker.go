package webhook

import (
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// breakers holds one circuit breaker per endpoint ID.
//
// Concurrency: mu guards m and lastSweep and is held only for map
// bookkeeping, never while a request runs. Each gobreaker.CircuitBreaker has
// its own mutex; lock order is breakers.mu, then a breaker's mutex (taken
// only by gobreaker itself). A breaker's OnStateChange runs under its
// mutex and therefore must not take breakers.mu.
//
// Bound: an entry unused for idle is dropped by a sweep that runs at most
// once per idle/2, piggybacked on get. The map thus holds the endpoints used
// in the last 1.5·idle at most. Dropping a breaker forgets its failure
// count; as idle is at least twice the cooldown, a dropped open circuit
// would already have admitted a probe.
type breakers struct {
	idle     time.Duration
	settings func(endpointID string) gobreaker.Settings

	mu        sync.Mutex
	m         map[string]*breakerEntry
	lastSweep time.Time
}

type breakerEntry struct {
	cb   *gobreaker.CircuitBreaker[Attempt]
	url  string
	used time.Time
}

func newBreakers(idle time.Duration, settings func(string) gobreaker.Settings) *breakers {
	return &breakers{idle: idle, settings: settings, m: make(map[string]*breakerEntry)}
}

// get returns the breaker for endpoint id, creating it if needed. A changed
// URL gets a fresh breaker: the admin has repointed the endpoint, and the
// old address's failures say nothing about the new one.
func (b *breakers) get(id, url string, now time.Time) *gobreaker.CircuitBreaker[Attempt] {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lastSweep.IsZero() {
		b.lastSweep = now
	}
	if now.Sub(b.lastSweep) >= b.idle/2 {
		for k, e := range b.m {
			if now.Sub(e.used) >= b.idle {
				delete(b.m, k)
			}
		}
		b.lastSweep = now
	}
	e, ok := b.m[id]
	if !ok || e.url != url {
		e = &breakerEntry{cb: gobreaker.NewCircuitBreaker[Attempt](b.settings(id)), url: url}
		b.m[id] = e
	}
	e.used = now
	return e.cb
}

// len returns the number of breakers held.
func (b *breakers) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}
