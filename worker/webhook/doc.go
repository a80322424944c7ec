// Package webhook signs and delivers Outrider webhooks. It is a library for
// the event worker: it makes one HTTP attempt per call and reports what
// happened. It does not store anything, acknowledge JetStream messages or
// schedule retries; the worker does, using [Attempt.Retryable] and
// internal/backoff's FullJitter.
//
// Start with [NewClient] and [Client.Deliver]; receivers start with [Verify].
//
// # The request
//
// Every delivery is an HTTP POST of the event's JSON to the endpoint's URL
// with these headers:
//
//	Content-Type:         application/json
//	User-Agent:           Outrider-Webhooks/1
//	Outrider-Event-Id:    order:01J...:3   (stable across retries: de-duplicate on it)
//	Outrider-Event-Type:  order.status_changed
//	Outrider-Delivery-Id: the delivery's id (one per endpoint and event)
//	Outrider-Signature:   t=1767268800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//
// # Verifying the signature
//
// t is the Unix time, in seconds, at which the attempt was signed; each
// retry is signed afresh. v1 is the lowercase hex HMAC-SHA256 of the string
//
//	<t> + "." + <raw request body>
//
// keyed with the endpoint's signing secret exactly as shown to the admin,
// "whsec_" prefix included (the key is the secret string's bytes; it is not
// decoded). To verify, a receiver:
//
//  1. reads the raw body before parsing it (any re-encoding breaks the MAC);
//  2. splits the header on "," and each item on the first "="; ignores keys
//     other than t and v1 (future schemes get new names);
//  3. computes the expected v1 and compares it to every v1 value in the
//     header in constant time; one match is enough. While a secret is being
//     rotated Outrider sends one v1 per valid secret;
//  4. rejects the request if t is further than a tolerance (5 minutes is
//     usual) from its own clock, so a captured request cannot be replayed
//     later;
//  5. answers 2xx quickly and does the work asynchronously, de-duplicating
//     on Outrider-Event-Id: delivery is at least once.
//
// Go receivers call [Verify], which does all of the above.
//
// # Failure and retry policy
//
// Only a 2xx answer is a success. Redirects are not followed: a 3xx is a
// failure, because a signed POST must not be replayed to wherever a
// receiver points us, and a moved endpoint should be fixed by its admin.
//
// Every failure is retryable except the following, which will not succeed
// by trying again:
//
//   - 410 Gone: the receiver says the endpoint is gone for good; the worker
//     should stop retrying and may disable the endpoint;
//   - an endpoint or delivery that cannot be sent at all (a URL that is not
//     absolute http or https, an empty event id).
//
// 4xx answers other than 410 are retried like 5xx, as Stripe, Svix and the
// Standard Webhooks specification do: receivers most often answer 400, 401,
// 403 or 404 because of a bug or a configuration being deployed, and they
// expect the event once they have fixed it. The worker bounds the number of
// attempts. [Attempt.RetryAfter] carries a receiver's Retry-After (on 429
// and 503 typically); the worker should wait at least that long.
//
// # Circuit breaker
//
// Each endpoint has a circuit breaker (github.com/sony/gobreaker/v2). After
// [Config.BreakerFailures] consecutive failed attempts the circuit opens and
// Deliver returns at once with [Attempt.CircuitOpen] set and no request
// made, so a dead endpoint costs its neighbours nothing. After
// [Config.BreakerCooldown] one probe is let through; its success closes the
// circuit and its failure opens it again for another cooldown.
package webhook
