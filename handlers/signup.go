package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"gatehouse/auth"
	"gatehouse/components"
	"gatehouse/internal/validate"
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
func (h *signInPages) checkSignupField(ctx context.Context, values url.Values, field string) (signupCheck, error) {
	username := validate.NormalizeUsername(values.Get("username"))
	email := validate.NormalizeEmail(values.Get("email"))
	p1, p2 := values.Get("password1"), values.Get("password2")
	switch field {
	case "username":
		if msg := validate.ValidateUsername(username); msg != "" {
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
		if msg := validate.ValidateEmail(email); msg != "" {
			return signupCheck{errs: []string{msg}}, nil
		}
		return signupCheck{}, nil
	case "password1":
		if p1 == "" {
			return signupCheck{errs: []string{requiredError}}, nil
		}
		if msgs := validate.ValidatePassword(p1, username, email); len(msgs) > 0 {
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

func (h *signInPages) signupPage(c *gin.Context) {
	p := h.page(c, "Sign up")
	p.Narrow = true
	h.render(c, http.StatusOK, components.SignupPage(p, newForm(nil), h.checkedNext(c.Query("next"))))
}

// signupValidate is the live check of one field: it answers the field's
// message element only (always 200, so htmx swaps it), never the input.
func (h *signInPages) signupValidate(c *gin.Context) {
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
	// taken, as Django's form says too); each one is taken against a
	// generous per-address limit first. The other fields are pure
	// computation and are never throttled, so typing a password is never
	// held up.
	if field == "username" {
		err := h.accounts.TakeUsernameCheck(c.Request.Context(), c.ClientIP())
		var terr *auth.ThrottledError
		if errors.As(err, &terr) {
			// A neutral note, not an error: the name may well be free.
			h.cfg.Metrics.ThrottleRefused(terr.Scope)
			status, msg := tooManyRequests(c, terr.Wait, "username checks")
			h.render(c, status, components.FieldNotice(field, msg))
			return
		}
		if err != nil {
			h.dbError(c, "check signup throttle", err)
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

// signupFields maps the flow's field names to the sign-up form's.
var signupFields = map[string]string{"password": "password1"}

// signupSubmit creates the account and signs the new user straight in (a
// fresh session, as at login): asking them to type the password again right
// away proves nothing. Every POST looks the username up, so it is taken
// against the look-up limit first (or the final POST would be a way around
// the live check's); the sign-up itself is taken against the per-address
// sign-up limit by the flow, before the hash. A name taken in a race comes
// back from the unique index as a form error, never a 500.
func (h *signInPages) signupSubmit(c *gin.Context) {
	values, formMsg, err := h.decodeForm(c)
	if err != nil {
		return
	}
	ctx := c.Request.Context()
	form := newForm(values, "username", "email")
	next := h.checkedNext(values.Get("next"))
	show := func(status int) { h.signupForm(c, status, form, next) }
	if err := h.accounts.TakeUsernameCheck(ctx, c.ClientIP()); err != nil {
		h.formFailure(c, "check signup throttle", err, form, "sign-up attempts", nil, show)
		return
	}
	if wait, err := h.accounts.SignupWait(ctx, c.ClientIP()); err != nil || wait > 0 {
		if err == nil {
			err = &auth.ThrottledError{Wait: wait, Scope: auth.ScopeSignupIP}
		}
		h.formFailure(c, "check signup throttle", err, form, "sign-up attempts", nil, show)
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
	if form.HasErrors() {
		show(http.StatusUnprocessableEntity)
		return
	}
	res, err := h.accounts.Signup(ctx, auth.SignupInput{
		Username: values.Get("username"), Email: values.Get("email"), Password: values.Get("password1"),
		IP: c.ClientIP(), SessionID: session(c).ID, Next: next,
	})
	switch {
	case errors.Is(err, models.ErrDuplicateUsername):
		addError(form, "username", usernameTakenError)
		show(http.StatusUnprocessableEntity)
		return
	case errors.Is(err, models.ErrDuplicateEmail):
		addError(form, "email", emailTakenError)
		show(http.StatusUnprocessableEntity)
		return
	case err != nil:
		h.formFailure(c, "sign up", err, form, "sign-up attempts", signupFields, show)
		return
	}
	if res.Session == (models.NewSession{}) { // EMAIL_VERIFICATION=mandatory (email.go)
		h.flashVisitor(c, "success", signupConfirmFirst, res.User.Email)
		h.redirect(c, withNext(h.cfg.LoginURL, next))
		return
	}
	h.signedIn(c, res)
	h.flash(c, "success", "Welcome, %s! Your account has been created and you are signed in.", res.User.Username)
	h.redirect(c, h.safeNext(next, h.cfg.LoginRedirectURL))
}

func (h *signInPages) signupForm(c *gin.Context, status int, form components.Form, next string) {
	h.formOrPage(c, status, components.SignupForm(form, next), func() templ.Component {
		p := h.page(c, "Sign up")
		p.Narrow = true
		return components.SignupPage(p, form, next)
	})
}
