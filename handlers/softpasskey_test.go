package handlers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// softPasskey is a software authenticator for HTTP tests: it answers the
// options Gatehouse sends with real WebAuthn responses ("none"
// attestation, ES256, user present and verified), so passkey flows run
// through the real handlers and go-webauthn's verification, not a mock.
type softPasskey struct {
	t      *testing.T
	origin string // http://example.test
	rpID   string
	key    *ecdsa.PrivateKey
	credID []byte
	user   []byte // the user handle given at registration
	count  uint32
	pad    int // bytes of junk added to the client data (hostile clients)
}

func newSoftPasskey(t *testing.T, baseURL string) *softPasskey {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &softPasskey{t: t, origin: u.Scheme + "://" + u.Host, rpID: u.Hostname(), key: key, credID: id}
}

var b64 = base64.RawURLEncoding

// publicKeyOptions reads the challenge (and the user handle, when given)
// out of options JSON as the server sends it ({"publicKey": {...}} or the
// inner object).
func (p *softPasskey) publicKeyOptions(options string) (challenge string, userID []byte) {
	p.t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
		Challenge string `json:"challenge"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal([]byte(options), &o); err != nil {
		p.t.Fatalf("passkey options %q: %v", options, err)
	}
	challenge = o.PublicKey.Challenge
	if challenge == "" {
		challenge = o.Challenge
	}
	if challenge == "" {
		p.t.Fatalf("passkey options without a challenge: %s", options)
	}
	for _, id := range []string{o.PublicKey.User.ID, o.User.ID} {
		if id != "" {
			userID, _ = b64.DecodeString(strings.TrimRight(id, "="))
		}
	}
	return challenge, userID
}

func (p *softPasskey) clientData(typ, challenge string) []byte {
	d := map[string]any{"type": typ, "challenge": challenge, "origin": p.origin, "crossOrigin": false}
	if p.pad > 0 {
		d["junk"] = strings.Repeat("A", p.pad)
	}
	b, _ := json.Marshal(d)
	return b
}

// authData is the authenticator data: RP ID hash, flags (user present and
// verified, plus attested data at registration) and the counter.
func (p *softPasskey) authData(attested []byte) []byte {
	h := sha256.Sum256([]byte(p.rpID))
	flags := byte(0x01 | 0x04)
	if attested != nil {
		flags |= 0x40
	}
	p.count++
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, p.count)
	return append(out, attested...)
}

// create answers registration options with an attestation response.
func (p *softPasskey) create(options string) string {
	p.t.Helper()
	challenge, userID := p.publicKeyOptions(options)
	p.user = userID
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1,
		-2: p.key.PublicKey.X.FillBytes(make([]byte, 32)), -3: p.key.PublicKey.Y.FillBytes(make([]byte, 32))})
	if err != nil {
		p.t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID zero
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(p.credID)))
	attested = append(attested, p.credID...)
	attested = append(attested, cose...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": p.authData(attested)})
	if err != nil {
		p.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(p.credID), "rawId": b64.EncodeToString(p.credID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(p.clientData("webauthn.create", challenge)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
	return string(b)
}

// get answers sign-in options with an assertion by this passkey.
func (p *softPasskey) get(options string) string {
	p.t.Helper()
	challenge, _ := p.publicKeyOptions(options)
	cd := p.clientData("webauthn.get", challenge)
	ad := p.authData(nil)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, p.key, digest[:])
	if err != nil {
		p.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(p.credID), "rawId": b64.EncodeToString(p.credID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(p.user),
		},
		"clientExtensionResults": map[string]any{},
	})
	return string(b)
}

// addSoftPasskey registers a new software passkey for the signed-in client
// through the passkeys page and returns it with the response to the POST.
func addSoftPasskey(t *testing.T, ts *testServer, c *testClient, name string) (*softPasskey, *response) {
	t.Helper()
	page := c.get("/accounts/2fa/webauthn/")
	wantStatus(t, page, http.StatusOK)
	doc := page.doc(t)
	options, ok := doc.Find(`#passkey-add-form`).Attr("data-options")
	if !ok {
		t.Fatalf("the passkeys page has no add form: %.1500s", page.body)
	}
	state, _ := doc.Find(`#passkey-add-form input[name="state"]`).Attr("value")
	p := newSoftPasskey(t, ts.h.cfg.BaseURL)
	res := c.postForm("/accounts/2fa/webauthn/", url.Values{"state": {state}, "name": {name}, "credential": {p.create(options)}})
	return p, res
}

// passkeySignIn signs c in with p from the login page's passkey ceremony.
func passkeySignIn(t *testing.T, c *testClient, p *softPasskey) *response {
	t.Helper()
	res := c.get("/accounts/2fa/webauthn/login/options/")
	wantStatus(t, res, http.StatusOK)
	var o struct {
		Available bool            `json:"available"`
		Options   json.RawMessage `json:"options"`
		State     string          `json:"state"`
	}
	if err := json.Unmarshal([]byte(res.body), &o); err != nil || !o.Available {
		t.Fatalf("passkey login options: %v %s", err, res.body)
	}
	return c.postForm("/accounts/2fa/webauthn/login/", url.Values{"state": {o.State}, "credential": {p.get(string(o.Options))}})
}
