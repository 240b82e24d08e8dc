package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// tooManyRequests prepares a 429 answer: it sets Retry-After (whole seconds,
// rounded up) and returns the message for the form. The caller renders the
// form with status 429. The limits themselves are kept by the flows
// (auth.Accounts), which take each attempt before the work it limits.
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
