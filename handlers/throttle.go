package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/models"
)

// Throttle scopes: what a counter counts. They are part of the stored key's
// hash and shown in logs and security events.
const (
	scopeLoginUserIP = "login:user+ip"
	scopeLoginIP     = "login:ip"
	scopeResetEmail  = "reset:email"
	scopeResetIP     = "reset:ip"
	scopeSignupIP    = "signup:ip"
	scopeSignupCheck = "signup-check:ip"
)

// throttleRule is one limit applied to a request: the scope of what is
// counted, the parts that say who (already normalised), and the limit.
// Handlers build the rules for a request, then use throttleCheck before the
// expensive or revealing work, throttleCount for each attempt that counts,
// and throttleReset when a success should wipe the slate.
type throttleRule struct {
	scope string
	parts []string
	limit models.Limit
}

func (r throttleRule) key() string { return models.ThrottleKey(r.scope, r.parts...) }

// clientIPRule limits by the request's client address (trusted proxies
// applied; IPv6 by /64).
func clientIPRule(c *gin.Context, scope string, limit models.Limit) throttleRule {
	return throttleRule{scope: scope, parts: []string{models.ThrottleIP(c.ClientIP())}, limit: limit}
}

// loginRules are the limits on login attempts: per (username, client
// address), so guessing one account from elsewhere never locks its owner out
// from their own address, and per client address, so one address cannot
// spray guesses across many accounts. There is deliberately no limit per
// username alone: anyone could then lock any account.
func (h *Handler) loginRules(c *gin.Context, username string) (userIP, perIP throttleRule) {
	perIP = clientIPRule(c, scopeLoginIP, h.cfg.LoginLimitPerIP)
	userIP = throttleRule{scope: scopeLoginUserIP, parts: []string{models.UsernameKey(username), perIP.parts[0]}, limit: h.cfg.LoginLimitPerUserIP}
	return userIP, perIP
}

// resetRules are the limits on password-reset requests: per address
// (case-folded, whether or not an account has it) and per client address.
func (h *Handler) resetRules(c *gin.Context, email string) (perEmail, perIP throttleRule) {
	perEmail = throttleRule{scope: scopeResetEmail, parts: []string{models.EmailKey(email)}, limit: h.cfg.PasswordResetLimitPerEmail}
	return perEmail, clientIPRule(c, scopeResetIP, h.cfg.PasswordResetLimitPerIP)
}

// signupRules are the limits on sign-ups from one client address: accounts
// attempted (each costs a hash and makes a row) and username look-ups (each
// says whether a name is taken).
func (h *Handler) signupRules(c *gin.Context) (signups, checks throttleRule) {
	return clientIPRule(c, scopeSignupIP, h.cfg.SignupLimitPerIP), clientIPRule(c, scopeSignupCheck, h.cfg.SignupCheckLimitPerIP)
}

// throttleCheck reports the longest wait among the rules whose key is
// blocked (0: go ahead) and the scope that blocked. It only reads.
func (h *Handler) throttleCheck(c *gin.Context, rules ...throttleRule) (wait time.Duration, scope string, err error) {
	for _, r := range rules {
		if !r.limit.Enabled() {
			continue
		}
		ok, retry, err := h.throttle.Check(c.Request.Context(), r.key())
		if err != nil {
			return 0, "", err
		}
		if !ok && retry > wait {
			wait, scope = retry, r.scope
		}
	}
	if wait > 0 {
		h.cfg.Metrics.ThrottleRefused(scope)
	}
	return wait, scope, nil
}

// throttleCount counts one attempt against every rule. It returns the
// longest block the attempt started (0 when none) and its scope, and the
// first failure to count (every rule is still tried). After the fact (a
// failed login) a failure is only logged; before the work (a sign-up, a
// reset request) the caller refuses the request, since a limit that cannot
// be counted cannot be kept.
func (h *Handler) throttleCount(c *gin.Context, rules ...throttleRule) (blocked time.Duration, scope string, err error) {
	for _, r := range rules {
		d, ferr := h.throttle.Fail(c.Request.Context(), r.scope, r.key(), r.limit)
		if ferr != nil {
			h.log.Warn("count throttled attempt", "scope", r.scope, "err", ferr)
			if err == nil {
				err = ferr
			}
			continue
		}
		if d > blocked {
			blocked, scope = d, r.scope
		}
	}
	return blocked, scope, err
}

// throttleReset forgets the rules' counts, as after a successful login.
func (h *Handler) throttleReset(c *gin.Context, rules ...throttleRule) {
	for _, r := range rules {
		if !r.limit.Enabled() {
			continue
		}
		if err := h.throttle.Reset(c.Request.Context(), r.key()); err != nil {
			h.log.Warn("reset throttle", "scope", r.scope, "err", err)
		}
	}
}

// tooManyRequests prepares a 429 answer: it sets Retry-After (whole seconds,
// rounded up) and returns the message for the form. The caller renders the
// form with status 429.
func tooManyRequests(c *gin.Context, wait time.Duration, what string) (status int, msg string) {
	secs := int64((wait + time.Second - 1) / time.Second)
	c.Header("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	return http.StatusTooManyRequests, fmt.Sprintf("Too many %s. For your security, please wait %s and try again.", what, humanWait(wait))
}

// humanWait says a wait in words: seconds under a minute, else whole
// minutes rounded up.
func humanWait(d time.Duration) string {
	if d < time.Minute {
		s := max(int((d+time.Second-1)/time.Second), 1)
		if s == 1 {
			return "1 second"
		}
		return strconv.Itoa(s) + " seconds"
	}
	m := int((d + time.Minute - 1) / time.Minute)
	if m == 1 {
		return "1 minute"
	}
	return strconv.Itoa(m) + " minutes"
}
