// Package validate checks and normalises what people type: usernames,
// e-mail addresses and passwords (Django's validators, with byte limits
// taken first so the work is bounded).
package validate

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Limits on user input, in characters (runes).
const (
	UsernameMaxLen    = 150 // Django's
	EmailMaxLen       = 254 // RFC 5321 path limit
	PasswordMinLen    = 8   // Django's MinimumLengthValidator
	PasswordMaxLen    = 1024
	similarityMaxFrac = 0.7 // Django's UserAttributeSimilarityValidator
)

// Limits on user input in bytes, checked before anything else: a character
// is at most 4 bytes of UTF-8, so a longer value cannot be within its limit
// in characters, and it is refused before any normalising (NFKC can expand
// text 18-fold, U+FDFA) or comparing, which keeps every validator's work
// bounded by its field's limit whatever size the request body is.
const (
	usernameMaxBytes = 4 * UsernameMaxLen
	emailMaxBytes    = 4 * EmailMaxLen
	passwordMaxBytes = 4 * PasswordMaxLen
	// similarityMaxParts caps the parts of an attribute compared with the
	// password; a valid address has far fewer that matter.
	similarityMaxParts = 32
)

var usernameRE = regexp.MustCompile(`^[\p{L}\p{N}_.@+-]+$`)

var folder = cases.Fold()

// NormalizeUsername returns the username as stored: NFKC-normalised with
// surrounding space removed, as Django's normalize_username does. Space is
// trimmed again after NFKC, which can turn a character into a space plus a
// mark (U+00A8 becomes " \u0308"); without it normalising twice would give a
// different name (found by FuzzUsernameNormalization).
func NormalizeUsername(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > usernameMaxBytes {
		return s // too long in any form: ValidateUsername refuses it
	}
	return strings.TrimSpace(norm.NFKC.String(s))
}

// UsernameKey returns the case-insensitive identity of a username: the NFKC
// form of its Unicode case fold. Two usernames with the same key are the same
// account; the database holds a unique index on it.
func UsernameKey(s string) string {
	if s = strings.TrimSpace(s); len(s) > usernameMaxBytes {
		return s // no account has such a name; not worth normalising
	}
	return norm.NFKC.String(folder.String(NormalizeUsername(s)))
}

// EmailKey returns the case-insensitive identity of an e-mail address, used to
// find accounts by address (never to send to).
func EmailKey(s string) string {
	if s = strings.TrimSpace(s); len(s) > emailMaxBytes {
		return s // no account has such an address; not worth normalising
	}
	return norm.NFKC.String(folder.String(norm.NFKC.String(strings.TrimSpace(s))))
}

// CleanText reports a problem with raw form text that no field accepts:
// invalid UTF-8, NUL or other control characters. It returns "" when fine.
func CleanText(s string) string {
	if !utf8.ValidString(s) {
		return "Enter valid text: this contains bytes that are not UTF-8."
	}
	for _, r := range s {
		if r == 0 || (unicode.IsControl(r) && r != '\t') {
			return "Enter valid text: control characters are not allowed."
		}
	}
	return ""
}

// ValidateUsername returns a message when s (already normalised) is not an
// acceptable username, else "".
func ValidateUsername(s string) string {
	if len(s) > usernameMaxBytes {
		return "Ensure this value has at most 150 characters."
	}
	if msg := CleanText(s); msg != "" {
		return msg
	}
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "This field is required."
	case n > UsernameMaxLen:
		return "Ensure this value has at most 150 characters."
	}
	if msg := invisibleUsernameMsg(s); msg != "" {
		return msg
	}
	if !usernameRE.MatchString(s) {
		return "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
	}
	return ""
}

// NormalizeEmail lower-cases the domain part, as Django's normalize_email does.
func NormalizeEmail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > emailMaxBytes {
		return s // ValidateEmail refuses it
	}
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return s
	}
	return s[:i+1] + strings.ToLower(s[i+1:])
}

// ValidateEmail returns a message when s is not a plain e-mail address.
// An empty address is allowed here; forms that need one say so.
func ValidateEmail(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > emailMaxBytes {
		return "Ensure this value has at most 254 characters."
	}
	if msg := CleanText(s); msg != "" {
		return msg
	}
	if utf8.RuneCountInString(s) > EmailMaxLen {
		return "Ensure this value has at most 254 characters."
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || strings.ContainsAny(s, " <>\"") {
		return "Enter a valid email address."
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "Enter a valid email address."
	}
	return ""
}

// ValidatePassword applies Django's password validators plus a maximum
// length: minimum length, similarity to the username and e-mail, the common-
// password list, and not entirely numeric. It returns every failed rule's
// message, or nil when the password is acceptable. The username and e-mail
// are compared only when they pass their own validation: a value that does
// not could be any size, and no account has it anyway.
func ValidatePassword(password, username, email string) []string {
	const tooLong = "This password is too long. It must contain at most 1024 characters."
	if len(password) > passwordMaxBytes {
		return []string{tooLong}
	}
	if msg := CleanText(password); msg != "" {
		return []string{msg}
	}
	n := utf8.RuneCountInString(password)
	if n > PasswordMaxLen {
		// Nothing else is worth checking on such input.
		return []string{tooLong}
	}
	if ValidateUsername(username) != "" {
		username = ""
	}
	if ValidateEmail(email) != "" {
		email = ""
	}
	var msgs []string
	if n < PasswordMinLen {
		msgs = append(msgs, "This password is too short. It must contain at least 8 characters.")
	}
	if attr := similarAttribute(password, username, email); attr != "" {
		msgs = append(msgs, "The password is too similar to the "+attr+".")
	}
	if isCommonPassword(password) {
		msgs = append(msgs, "This password is too common.")
	}
	if isAllDigits(password) {
		msgs = append(msgs, "This password is entirely numeric.")
	}
	return msgs
}

// HardPasswordProblems returns the password rules that hold even when
// validation is bypassed: no empty password, clean text, bounded length.
func HardPasswordProblems(password string) []string {
	switch {
	case password == "":
		return []string{"This field is required."}
	case CleanText(password) != "":
		return []string{CleanText(password)}
	case utf8.RuneCountInString(password) > PasswordMaxLen:
		return []string{"This password is too long. It must contain at most 1024 characters."}
	}
	return nil
}

func isAllDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// similarAttribute returns "username" or "email address" when the password is
// too close to that attribute (or a part of it split on non-word characters,
// as Django does), else "". Its callers pass valid attributes only, so the
// work is bounded by the field limits; the parts are capped as well, and the
// scratch space is shared by every comparison.
func similarAttribute(password, username, email string) string {
	var sc similarityScratch
	sc.pw = []rune(strings.ToLower(password))
	attrs := []struct{ name, value string }{{"username", username}, {"email address", email}}
	for _, a := range attrs {
		if a.value == "" {
			continue
		}
		v := strings.ToLower(a.value)
		if sc.similarity(v) >= similarityMaxFrac {
			return a.name
		}
		n := 0
		for part := range strings.FieldsFuncSeq(v, notWordRune) {
			if n++; n > similarityMaxParts {
				break
			}
			if sc.similarity(part) >= similarityMaxFrac {
				return a.name
			}
		}
	}
	return ""
}

func notWordRune(r rune) bool { return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') }

// similarityScratch holds the password's runes and buffers reused across
// the comparisons of one validation.
type similarityScratch struct {
	pw     []rune
	part   []rune
	counts map[rune]int
}

// similarity is Python difflib's SequenceMatcher.quick_ratio, an upper bound
// of its ratio that Django's validator also checks first: 2*matches/total
// over the multiset of characters. It is cheap and errs on the side of
// refusing.
func (sc *similarityScratch) similarity(b string) float64 {
	sc.part = sc.part[:0]
	for _, r := range b {
		sc.part = append(sc.part, r)
	}
	ra, rb := sc.pw, sc.part
	if len(ra)+len(rb) == 0 {
		return 0
	}
	if sc.counts == nil {
		sc.counts = make(map[rune]int, 64)
	}
	clear(sc.counts)
	for _, r := range rb {
		sc.counts[r]++
	}
	matches := 0
	for _, r := range ra {
		if sc.counts[r] > 0 {
			sc.counts[r]--
			matches++
		}
	}
	q := 2 * float64(matches) / float64(len(ra)+len(rb))
	if q < similarityMaxFrac {
		return q
	}
	return lcsRatio(ra, rb)
}

// lcsRatio is 2*LCS/total, close to difflib's ratio, run only when the quick
// bound says the strings might be similar. Inputs are bounded by the field
// limits, and the table is rolled to two rows.
func lcsRatio(a, b []rune) float64 {
	if len(a) > 256 || len(b) > 256 {
		return 0 // far longer than any attribute it could resemble
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			switch {
			case a[i-1] == b[j-1]:
				cur[j] = prev[j-1] + 1
			case prev[j] >= cur[j-1]:
				cur[j] = prev[j]
			default:
				cur[j] = cur[j-1]
			}
		}
		prev, cur = cur, prev
	}
	return 2 * float64(prev[len(b)]) / float64(len(a)+len(b))
}

//go:embed common-passwords.txt.gz
var commonPasswordsGz []byte

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		panic("validate: embedded common-passwords list is corrupt: " + err.Error())
	}
	set := make(map[string]struct{}, 20000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			set[strings.ToLower(w)] = struct{}{}
		}
	}
	if sc.Err() != nil || len(set) < 1000 {
		panic("validate: embedded common-passwords list is corrupt")
	}
	return set
})

func isCommonPassword(p string) bool {
	_, ok := commonPasswords()[strings.ToLower(strings.TrimSpace(p))]
	return ok
}

// IsDefaultIgnorable reports Unicode's Default_Ignorable_Code_Point,
// derived as DerivedCoreProperties.txt defines it from the tables of Go's
// unicode package: Other_Default_Ignorable_Code_Point + Cf +
// Variation_Selector − White_Space − U+FFF9..FFFB − U+13430..13440 −
// Prepended_Concatenation_Mark.
func IsDefaultIgnorable(r rune) bool {
	if !unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Cf, unicode.Variation_Selector) {
		return false
	}
	if unicode.Is(unicode.White_Space, r) || unicode.Is(unicode.Prepended_Concatenation_Mark, r) {
		return false
	}
	return !(r >= 0xFFF9 && r <= 0xFFFB) && !(r >= 0x13430 && r <= 0x13440)
}

// invisibleUsernameMsg is ValidateUsername's message for s when it holds a
// default-ignorable (invisible) character, else "".
func invisibleUsernameMsg(s string) string {
	for _, r := range s {
		if IsDefaultIgnorable(r) {
			return fmt.Sprintf("Enter a valid username. This value contains an invisible character (U+%04X).", r)
		}
	}
	return ""
}
