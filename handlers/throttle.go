package handlers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"gatehouse/internal/locale"
)

// throttleTexts are the whole sentences a limit answers with, by what was
// limited (the caller's what); {{.Wait}} is humanWait's phrase.
var throttleTexts = map[string]i18n.Message{
	"attempts":                         {ID: "throttle.attempts", Other: "Too many attempts. For your security, please wait {{.Wait}} and try again."},
	"failed login attempts":            {ID: "throttle.failed_logins", Other: "Too many failed login attempts. For your security, please wait {{.Wait}} and try again."},
	"failed sign-ins":                  {ID: "throttle.failed_signins", Other: "Too many failed sign-ins. For your security, please wait {{.Wait}} and try again."},
	"password attempts":                {ID: "throttle.password_attempts", Other: "Too many password attempts. For your security, please wait {{.Wait}} and try again."},
	"password reset requests":          {ID: "throttle.reset_requests", Other: "Too many password reset requests. For your security, please wait {{.Wait}} and try again."},
	"sign-up attempts":                 {ID: "throttle.signups", Other: "Too many sign-up attempts. For your security, please wait {{.Wait}} and try again."},
	"wrong codes":                      {ID: "throttle.wrong_codes", Other: "Too many wrong codes. For your security, please wait {{.Wait}} and try again."},
	"confirmation e-mails":             {ID: "throttle.confirmation_mails", Other: "Too many confirmation e-mails. For your security, please wait {{.Wait}} and try again."},
	"username checks":                  {ID: "throttle.username_checks", Other: "Too many username checks. For your security, please wait {{.Wait}} and try again."},
	"sign-ins through other providers": {ID: "throttle.upstream_signins", Other: "Too many sign-ins through other providers. For your security, please wait {{.Wait}} and try again."},
}

var (
	waitSeconds = i18n.Message{ID: "throttle.wait_seconds", One: "{{.Count}} second", Other: "{{.Count}} seconds"}
	waitMinutes = i18n.Message{ID: "throttle.wait_minutes", One: "{{.Count}} minute", Other: "{{.Count}} minutes"}
)

// tooManyRequests prepares a 429 answer: it sets Retry-After (whole seconds,
// rounded up) and returns the message for the form, in the reader's
// language. The caller renders the form with status 429. The limits
// themselves are kept by the flows (auth.Accounts), which take each attempt
// before the work it limits.
func tooManyRequests(c *gin.Context, wait time.Duration, what string) (status int, msg string) {
	secs := int64((wait + time.Second - 1) / time.Second)
	c.Header("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	m, ok := throttleTexts[what]
	if !ok {
		m = throttleTexts["attempts"]
	}
	return http.StatusTooManyRequests, tr(c, m, map[string]any{"Wait": humanWait(c.Request.Context(), wait)})
}

// humanWait says a wait in words: seconds under a minute, else whole
// minutes rounded up.
func humanWait(ctx context.Context, d time.Duration) string {
	if d < time.Minute {
		return locale.N(ctx, waitSeconds, max(int((d+time.Second-1)/time.Second), 1))
	}
	return locale.N(ctx, waitMinutes, int((d+time.Minute-1)/time.Minute))
}
