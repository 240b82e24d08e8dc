package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"gatehouse/components"
	"gatehouse/models"
)

const usernameTakenError = "A user with that username already exists."

// emailTakenError answers an address another account already has. It tells
// a visitor that the address is registered, as the username check tells
// about names; sign-up attempts are limited per IP (SIGNUP_LIMIT_PER_IP).
const emailTakenError = "A user with that email already exists."

// signupCheck is one field's verdict: its errors, or a note when it is fine.
type signupCheck struct {
	errs []string
	ok   string
}

// checkSignupField validates one sign-up field against the submitted form;
// the live check and the final POST share it, so they cannot disagree. Only
// the username check touches the database (to say whether it is taken).
func (h *Handler) checkSignupField(ctx context.Context, values url.Values, field string) (signupCheck, error) {
	username := models.NormalizeUsername(values.Get("username"))
	email := models.NormalizeEmail(values.Get("email"))
	p1, p2 := values.Get("password1"), values.Get("password2")
	switch field {
	case "username":
		if msg := models.ValidateUsername(username); msg != "" {
			return signupCheck{errs: []string{msg}}, nil
		}
		taken, err := h.users.UsernameTaken(ctx, username)
		if err != nil {
			return signupCheck{}, err
		}
		if taken {
			return signupCheck{errs: []string{usernameTakenError}}, nil
		}
		return signupCheck{ok: "This username is available."}, nil
	case "email":
		if email == "" {
			return signupCheck{errs: []string{requiredError}}, nil
		}
		if msg := models.ValidateEmail(email); msg != "" {
			return signupCheck{errs: []string{msg}}, nil
		}
		return signupCheck{}, nil
	case "password1":
		if p1 == "" {
			return signupCheck{errs: []string{requiredError}}, nil
		}
		if msgs := models.ValidatePassword(p1, username, email); len(msgs) > 0 {
			return signupCheck{errs: msgs}, nil
		}
		return signupCheck{ok: "This password meets the rules."}, nil
	case "password2":
		if p2 == "" {
			return signupCheck{errs: []string{requiredError}}, nil
		}
		if p1 != p2 {
			return signupCheck{errs: []string{mismatchError}}, nil
		}
		return signupCheck{ok: "The passwords match."}, nil
	}
	return signupCheck{}, errUnknownField
}

var errUnknownField = errors.New("unknown field")

func isSignupField(f string) bool {
	return f == "username" || f == "email" || f == "password1" || f == "password2"
}

func (h *Handler) signupPage(c *gin.Context) {
	p := h.page(c, "Sign up")
	p.Narrow = true
	h.render(c, http.StatusOK, components.SignupPage(p, newForm(nil)))
}

// signupValidate is the live check of one field: it answers the field's
// message element only (always 200, so htmx swaps it), never the input.
func (h *Handler) signupValidate(c *gin.Context) {
	field := c.Param("field")
	if !isSignupField(field) {
		h.notFound(c)
		return
	}
	values, _, err := h.decodeForm(c)
	if err != nil {
		return
	}
	// Only the username check looks anything up (whether the name is
	// taken, as Django's form says too); each one counts against a
	// generous per-address limit. The other fields are pure computation
	// and are never throttled, so typing a password is never held up.
	if field == "username" {
		_, checks := h.signupRules(c)
		wait, _, err := h.throttleCheck(c, checks)
		if err != nil {
			h.dbError(c, "check signup throttle", err)
			return
		}
		if wait > 0 {
			// A neutral note, not an error: the name may well be free.
			status, msg := tooManyRequests(c, wait, "username checks")
			h.render(c, status, components.FieldNotice(field, msg))
			return
		}
		if _, _, err := h.throttleCount(c, checks); err != nil {
			h.dbError(c, "count signup check", err)
			return
		}
	}
	chk, err := h.checkSignupField(c.Request.Context(), values, field)
	if err != nil {
		h.dbError(c, "check signup field", err)
		return
	}
	h.render(c, http.StatusOK, components.FieldMessages(field, chk.errs, chk.ok))
}

// signupSubmit creates the account and signs the new user straight in (a
// fresh session, as at login): asking them to type the password again right
// away proves nothing. A name taken in a race comes back from the unique
// index as a form error, never a 500.
func (h *Handler) signupSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	ctx := c.Request.Context()
	form := newForm(values, "username", "email")
	// Throttle before the username look-up and the hash; the check only
	// reads. Over either limit the form answers 429, values kept.
	signups, checks := h.signupRules(c)
	wait, _, err := h.throttleCheck(c, signups, checks)
	if err != nil {
		h.dbError(c, "check signup throttle", err)
		return
	}
	if wait > 0 {
		status, msg := tooManyRequests(c, wait, "sign-up attempts")
		addError(form, "", msg)
		h.signupForm(c, status, form)
		return
	}
	if formMsg != "" {
		addError(form, "", formMsg)
	}
	for _, field := range []string{"username", "email", "password1", "password2"} {
		chk, err := h.checkSignupField(ctx, values, field)
		if err != nil {
			h.dbError(c, "check signup field", err)
			return
		}
		for _, m := range chk.errs {
			addError(form, field, m)
		}
	}
	// Every submission looked the username up, so it counts as a check,
	// or the final POST would be a way around the live check's limit. One
	// that goes on to hashing also counts as a sign-up, counted now, before
	// the hash: counting attempts rather than successes bounds the hashing
	// an address can cost us as well as the accounts it can make, and a
	// burst of parallel requests cannot all slip in before a count.
	rules := []throttleRule{checks}
	if !form.HasErrors() {
		rules = append(rules, signups)
	}
	blocked, scope, err := h.throttleCount(c, rules...)
	if err != nil {
		h.dbError(c, "count signup attempt", err)
		return
	}
	if blocked > 0 {
		h.audit(c, models.AuthEvent{Kind: models.EventSignupThrottled, Username: values.Get("username"),
			Detail: "scope=" + scope + " blocked_for=" + blocked.String()})
	}
	if form.HasErrors() {
		h.signupForm(c, http.StatusUnprocessableEntity, form)
		return
	}
	user, err := h.users.Create(ctx, models.NewUser{
		Username: values.Get("username"), Email: values.Get("email"), Password: values.Get("password1"),
	})
	var verr *models.ValidationError
	switch {
	case errors.Is(err, models.ErrDuplicateUsername):
		addError(form, "username", usernameTakenError)
		h.signupForm(c, http.StatusUnprocessableEntity, form)
		return
	case errors.Is(err, models.ErrDuplicateEmail):
		addError(form, "email", emailTakenError)
		h.signupForm(c, http.StatusUnprocessableEntity, form)
		return
	case errors.As(err, &verr):
		for field, msgs := range verr.Fields {
			if field == "password" {
				field = "password1"
			}
			for _, m := range msgs {
				addError(form, field, m)
			}
		}
		h.signupForm(c, http.StatusUnprocessableEntity, form)
		return
	case errors.Is(err, models.ErrBusy):
		c.Header("Retry-After", "5")
		addError(form, "", busyError)
		h.signupForm(c, http.StatusServiceUnavailable, form)
		return
	case err != nil:
		h.dbError(c, "create user", err)
		return
	}
	h.audit(c, models.AuthEvent{Kind: models.EventSignup, UserID: &user.ID, Username: user.Username})
	if err := h.login(c, user); err != nil {
		h.dbError(c, "login", err)
		return
	}
	h.flash(c, "success", "Welcome, %s! Your account has been created and you are signed in.", user.Username)
	h.redirect(c, h.cfg.LoginRedirectURL)
}

func (h *Handler) signupForm(c *gin.Context, status int, form components.Form) {
	if isHTMX(c) {
		h.render(c, status, components.SignupForm(form))
		return
	}
	p := h.page(c, "Sign up")
	p.Narrow = true
	h.render(c, status, components.SignupPage(p, form))
}
