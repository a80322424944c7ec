package httpapi

import (
	"context"
	"hash/fnv"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/outrider/outrider/problem"
)

// Failed logins delay the next attempts (issue #14, finding 2), counted
// in the store so that every node sees them (persistence.LoginFailures):
//
//   - per account and address: after LoginFreeFailuresAccountIP failures,
//     each further one waits a delay that doubles from a second up to
//     LoginMaxDelayAccountIP — one address guessing one account;
//   - per account from anywhere: after LoginFreeFailuresAccount, a delay
//     doubling up to LoginMaxDelayAccount — many addresses guessing one
//     account. Its ceiling is short (a minute by default), so an attacker
//     who fails on purpose cannot keep the owner out for long: the owner
//     waits at most that long between two tries.
//
// An address the account logged in from (or reset its password from)
// within LoginKnownAddressFor is known: failures elsewhere do not delay
// it, only its own. An attacker who fails on purpose from fresh addresses
// thus keeps the account shut to fresh addresses, but not to its owner
// where he logged in lately, nor to an owner who proves his mailbox
// (POST /v1/auth/password-reset, then log in from where he confirmed).
//
// Failures are forgotten LoginFailureWindow after the last one. A
// successful login clears the address's count, and the account's unless
// the account is under attack (past its free failures). A signup answered
// email_taken counts as a failure of that account, so signup cannot be
// used to test addresses faster than login. A refused attempt is 429
// rate_limited with Retry-After; an attempt during a delay does not
// count as a failure and does not reach the password check.

// Defaults of the login throttle (Config.Login*).
const (
	DefaultLoginFreeFailuresAccountIP = 5
	DefaultLoginFreeFailuresAccount   = 20
	DefaultLoginMaxDelayAccountIP     = 15 * time.Minute
	DefaultLoginMaxDelayAccount       = time.Minute
	DefaultLoginFailureWindow         = 15 * time.Minute
	// LoginKnownAddressFor is how long a successful login keeps its
	// address known. Within worker.LoginFailureRetention, which keeps
	// the rows (24 hours).
	LoginKnownAddressFor = 24 * time.Hour
)

// accountLocks serialise, on one node, the attempts on one account from
// the throttle's check to the count of their outcome: without it, wrong
// passwords sent at the same instant all pass the check before any of
// them is counted (a probe got 200 of 200 checked). Striped by a hash of
// the e-mail, so memory is bounded; accounts that share a stripe wait on
// each other's password check, which is rare and short. Across nodes,
// attempts still race, at most one per node at a time.
type accountLocks [1024]sync.Mutex

func (l *accountLocks) lock(email string) (unlock func()) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(email))
	m := &l[h.Sum32()%uint32(len(l))]
	m.Lock()
	return m.Unlock
}

// loginKeys are the throttle's keys of an attempt on email (normalized)
// from ip: the account, and the account from that address.
func loginKeys(email, ip string) (account, accountIP string) {
	return "acct:" + email, "acct-ip:" + email + "|" + ip
}

// knownKey marks ip as an address email logged in from; its row's count
// is of successes, its last time the latest.
func knownKey(email, ip string) string { return "known:" + email + "|" + ip }

// loginDelay is how long after its last failure a key with n failures
// waits: nothing for the first free ones, then 1 s doubling up to max.
func loginDelay(n, free int, max time.Duration) time.Duration {
	if n < free {
		return 0
	}
	d := time.Duration(math.Min(float64(time.Second)*math.Pow(2, float64(n-free)), float64(max)))
	return d
}

// checkLogin refuses an attempt on email from ip while a delay runs.
func (s *Server) checkLogin(ctx context.Context, email, ip string) error {
	return s.checkDelays(ctx, email, ip, true)
}

// checkResetRequest refuses a password reset request for email from ip
// while that address's delay on the account runs. The account-wide delay
// does not apply: a request checks no password, its e-mails are spaced
// apart anyway (resetInterval), and an owner whose account is under
// attack from elsewhere must still be able to prove his mailbox.
func (s *Server) checkResetRequest(ctx context.Context, email, ip string) error {
	return s.checkDelays(ctx, email, ip, false)
}

// checkDelays refuses while the delay of email from ip runs, and the
// account-wide one if accountWide.
func (s *Server) checkDelays(ctx context.Context, email, ip string, accountWide bool) error {
	acct, acctIP := loginKeys(email, ip)
	known := knownKey(email, ip)
	now := s.now()
	window := now.Add(-s.cfg.LoginFailureWindow)
	since := window
	if k := now.Add(-LoginKnownAddressFor); k.Before(since) {
		since = k
	}
	got, err := s.store.LoginFailuresOf(ctx, []string{acct, acctIP, known}, since)
	if err != nil {
		return unavailable(err)
	}
	for _, k := range []string{acct, acctIP} {
		if c, ok := got[k]; ok && !c.Last.After(window) {
			delete(got, k) // forgotten
		}
	}
	until := now
	if _, ok := got[known]; ok || !accountWide {
		delete(got, acct) // the owner's address: only its own failures count
	}
	if c, ok := got[acct]; ok {
		if t := c.Last.Add(loginDelay(c.Failures, s.cfg.LoginFreeFailuresAccount, s.cfg.LoginMaxDelayAccount)); t.After(until) {
			until = t
		}
	}
	if c, ok := got[acctIP]; ok {
		if t := c.Last.Add(loginDelay(c.Failures, s.cfg.LoginFreeFailuresAccountIP, s.cfg.LoginMaxDelayAccountIP)); t.After(until) {
			until = t
		}
	}
	if !until.After(now) {
		return nil
	}
	secs := int(math.Ceil(until.Sub(now).Seconds()))
	e := errorf(problem.RateLimited, "too many failed attempts on this account; retry in %d s", secs)
	e.RetryAfter = secs
	return e
}

// loginFailed counts a failed attempt on email from ip.
func (s *Server) loginFailed(r *http.Request, email string) {
	acct, acctIP := loginKeys(email, s.clientIP(r))
	now := s.now()
	if err := s.store.AddLoginFailure(r.Context(), []string{acct, acctIP}, now, now.Add(-s.cfg.LoginFailureWindow)); err != nil {
		s.log.Warn("count a failed login", "err", err)
	}
}

// loginSucceeded clears the address's failures, and the account's unless
// it is under attack, and makes the address known.
func (s *Server) loginSucceeded(r *http.Request, email string) {
	ip := s.clientIP(r)
	acct, acctIP := loginKeys(email, ip)
	now := s.now()
	clear := []string{acctIP}
	got, err := s.store.LoginFailuresOf(r.Context(), []string{acct}, now.Add(-s.cfg.LoginFailureWindow))
	if err != nil {
		s.log.Warn("read failed logins", "err", err)
	} else if got[acct].Failures < s.cfg.LoginFreeFailuresAccount {
		clear = append(clear, acct)
	}
	if err := s.store.ClearLoginFailures(r.Context(), clear); err != nil {
		s.log.Warn("clear failed logins", "err", err)
	}
	if err := s.store.AddLoginFailure(r.Context(), []string{knownKey(email, ip)}, now, now.Add(-LoginKnownAddressFor)); err != nil {
		s.log.Warn("note a known address", "err", err)
	}
}
