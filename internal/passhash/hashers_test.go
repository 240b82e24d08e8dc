package passhash

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

type djangoVector struct {
	Algorithm, Password, Encoded, MadeBy string
}

// loadDjangoVectors reads the hashes real Django made (testdata/django).
func loadDjangoVectors(t *testing.T) []djangoVector {
	t.Helper()
	b, err := os.ReadFile("testdata/django/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw []struct {
		Algorithm string `json:"algorithm"`
		Password  string `json:"password"`
		Encoded   string `json:"encoded"`
		MadeBy    string `json:"made_by"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var out []djangoVector
	for _, r := range raw {
		out = append(out, djangoVector{r.Algorithm, r.Password, r.Encoded, r.MadeBy})
	}
	if len(out) < 20 {
		t.Fatalf("got %d vectors, want every hasher for every password", len(out))
	}
	return out
}

var djangoDisplayNames = map[string]string{
	"pbkdf2_sha256": AlgPBKDF2SHA256, "pbkdf2_sha1": AlgPBKDF2SHA1, "argon2": AlgDjangoArgon2,
	"bcrypt_sha256": AlgBcryptSHA256, "bcrypt": AlgBcrypt, "scrypt": AlgScrypt,
}

// TestDjangoVectors verifies every hash Django made: the right password
// matches and asks for a rehash (argon2id is preferred), a wrong one does
// not match.
func TestDjangoVectors(t *testing.T) {
	h := NewHasher(cheap, 2, time.Minute)
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for _, v := range loadDjangoVectors(t) {
		wantAlg, known := djangoDisplayNames[v.Algorithm]
		if !known {
			t.Fatalf("vector of unknown algorithm %q", v.Algorithm)
		}
		if got := HashAlgorithm(v.Encoded); got != wantAlg {
			t.Errorf("HashAlgorithm(%.30s…): got %q, want %q", v.Encoded, got, wantAlg)
		}
		if !IsLegacyHash(v.Encoded) {
			t.Errorf("IsLegacyHash(%.30s…): got false, want true", v.Encoded)
		}
		if err := CheckStoredHash(v.Encoded); err != nil {
			t.Errorf("CheckStoredHash(%.30s…): %v", v.Encoded, err)
		}
		checkWrong := !seen[v.Encoded[:min(len(v.Encoded), 20)]]
		seen[v.Encoded[:min(len(v.Encoded), 20)]] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, rehash, err := h.Verify(context.Background(), v.Password, v.Encoded)
			if err != nil || !ok || !rehash {
				t.Errorf("%s (%s): right password: got ok=%v rehash=%v err=%v, want true, true, nil", v.Encoded[:20], v.MadeBy, ok, rehash, err)
			}
			if !checkWrong {
				return
			}
			ok, _, err = h.Verify(context.Background(), "!"+v.Password, v.Encoded)
			if err != nil || ok {
				t.Errorf("%s: wrong password: got ok=%v err=%v, want false, nil", v.Encoded[:20], ok, err)
			}
		}()
	}
	wg.Wait()
	for alg := range djangoDisplayNames {
		if !seen[alg] && !anyPrefix(seen, alg+"$") {
			t.Errorf("no vector for %s", alg)
		}
	}
}

func anyPrefix(m map[string]bool, p string) bool {
	for k := range m {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// TestDjangoBcryptLongPasswords: Django's plain bcrypt hasher uses the first
// 72 bytes of a password (bcrypt's limit), bcrypt_sha256 all of it; the
// chain must agree with Django either way.
func TestDjangoBcryptLongPasswords(t *testing.T) {
	h := NewHasher(cheap, 2, time.Minute)
	n := 0
	for _, v := range loadDjangoVectors(t) {
		if len(v.Password) <= 72 || !strings.HasPrefix(v.Encoded, "bcrypt") {
			continue
		}
		n++
		other := v.Password[:72] + "a different tail"
		ok, _, err := h.Verify(context.Background(), other, v.Encoded)
		want := v.Algorithm == "bcrypt"
		if err != nil || ok != want {
			t.Errorf("%s with the same first 72 bytes: got ok=%v err=%v, want %v", v.Algorithm, ok, err, want)
		}
	}
	if n != 2 {
		t.Fatalf("got %d long bcrypt vectors, want 2", n)
	}
}

// TestLegacyHashesHostileOrMalformed: hashes a corrupt row or a hostile
// import could hold never match, never panic, and cost no more than a dummy
// verification (each case has seconds; without the limits some would run
// for minutes or allocate gigabytes).
func TestLegacyHashesHostileOrMalformed(t *testing.T) {
	h := NewHasher(cheap, 1, time.Minute)
	const b64_32 = "Uj2ZVdZdf/ARXJc192fqdi78271maw+lPOvG/5EZqdU="
	const scryptKey = "dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdA=="
	bcryptBody := "C4Zz5du6Au7T9dtj2irXNOeJ51w7V7Cq4rqwQeC7qb9sPk4QwPTnu"
	cases := map[string]string{
		"pbkdf2 a billion iterations": "pbkdf2_sha256$1000000000$salt$" + b64_32,
		// Beyond the most Django ever produced (hardening, round three).
		"pbkdf2 beyond Django 6.0":    "pbkdf2_sha256$1200001$salt$" + b64_32,
		"bcrypt cost 13":              "bcrypt_sha256$$2b$13$" + bcryptBody,
		"scrypt 32 MiB":               "scrypt$32768$salt$8$1$" + scryptKey,
		"argon2 Django 256 MiB":       "argon2$argon2id$v=19$m=262144,t=2,p=8$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2 Django 3 × 100 MiB":   "argon2$argon2id$v=19$m=102400,t=3,p=8$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"pbkdf2 iterations overflow":  "pbkdf2_sha256$99999999999999999999999$salt$" + b64_32,
		"pbkdf2 zero iterations":      "pbkdf2_sha256$0$salt$" + b64_32,
		"pbkdf2 negative iterations":  "pbkdf2_sha256$-5$salt$" + b64_32,
		"pbkdf2 padded iterations":    "pbkdf2_sha256$ 260000$salt$" + b64_32,
		"pbkdf2 empty salt":           "pbkdf2_sha256$1000$$" + b64_32,
		"pbkdf2 huge salt":            "pbkdf2_sha256$1000$" + strings.Repeat("s", 10000) + "$" + b64_32,
		"pbkdf2 short key":            "pbkdf2_sha256$1000$salt$c2hvcnQ=",
		"pbkdf2 not base64":           "pbkdf2_sha256$1000$salt$!!!!",
		"pbkdf2 sha1 with sha256 key": "pbkdf2_sha1$1000$salt$" + b64_32,
		"pbkdf2 missing fields":       "pbkdf2_sha256$1000",
		"pbkdf2 extra fields":         "pbkdf2_sha256$1000$salt$" + b64_32 + "$x",
		"bcrypt cost 31":              "bcrypt_sha256$$2b$31$" + bcryptBody,
		"bcrypt cost 20":              "bcrypt$$2b$20$" + bcryptBody,
		"bcrypt truncated":            "bcrypt$$2b$12$" + bcryptBody[:20],
		"bcrypt not bcrypt":           "bcrypt$pbkdf2_sha256$1000$salt$" + b64_32,
		"bcrypt empty":                "bcrypt_sha256$",
		"scrypt N 2^30":               "scrypt$1073741824$salt$8$1$" + scryptKey,
		"scrypt N not power of two":   "scrypt$16383$salt$8$1$" + scryptKey,
		"scrypt r huge":               "scrypt$16384$salt$4096$1$" + scryptKey,
		"scrypt p huge":               "scrypt$16384$salt$8$100000$" + scryptKey,
		"scrypt missing fields":       "scrypt$16384$salt$" + scryptKey,
		"argon2 Django 4 GiB":         "argon2$argon2id$v=19$m=4194304,t=2,p=8$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2 Django 1000 passes":   "argon2$argon2id$v=19$m=102400,t=1000,p=8$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2 Django 255 lanes":     "argon2$argon2id$v=19$m=102400,t=2,p=255$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2 Django version 16":    "argon2$argon2i$m=512,t=2,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2 Django argon2d":       "argon2$argon2d$v=19$m=512,t=2,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2id 256 MiB × 16":       "$argon2id$v=19$m=262144,t=16,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2id signed memory":      "$argon2id$v=19$m=+1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"md5 (Django, unsupported)":   "md5$salt$5f4dcc3b5aa765d61d8327deb882cf99",
		"unsalted sha1":               "sha1$$5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
		"crypt":                       "crypt$$abN0ZvXFNuOAY",
		"plain text":                  "hunter2",
	}
	for name, encoded := range cases {
		t.Run(name, func(t *testing.T) {
			if err := CheckStoredHash(encoded); !errors.Is(err, ErrUnsupportedHash) {
				t.Errorf("CheckStoredHash: got %v, want ErrUnsupportedHash", err)
			} else if strings.Contains(err.Error(), encoded) {
				t.Errorf("CheckStoredHash error quotes the hash: %v", err)
			}
			if IsLegacyHash(encoded) != (HashAlgorithm(encoded) != AlgArgon2id) {
				t.Errorf("IsLegacyHash and HashAlgorithm disagree")
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for _, pw := range []string{"password", "correct-horse-battery", ""} {
					ok, _, err := h.Verify(context.Background(), pw, encoded)
					if ok || err != nil {
						t.Errorf("Verify(%q): got ok=%v err=%v, want false, nil", pw, ok, err)
					}
				}
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("verification still running after 5 s: the parameters are not bounded")
			}
		})
	}
}

// TestUnusablePasswords: Django's unusable passwords ("!…", or empty) never
// match, are storable (CheckStoredHash accepts them), are not legacy (no
// hash to upgrade) and still cost a verification (they queue for a slot).
func TestUnusablePasswords(t *testing.T) {
	h := NewHasher(cheap, 1, 20*time.Millisecond)
	for _, encoded := range []string{"", "!", "!Xk2pQ8mW0rTzv4n1Ls9bYc3dFg7hJ5kA6eR0uI2o"} {
		if got := HashAlgorithm(encoded); got != AlgUnusable {
			t.Errorf("HashAlgorithm(%q): got %q, want unusable", encoded, got)
		}
		if IsLegacyHash(encoded) {
			t.Errorf("IsLegacyHash(%q): got true, want false", encoded)
		}
		if err := CheckStoredHash(encoded); err != nil {
			t.Errorf("CheckStoredHash(%q): got %v, want nil", encoded, err)
		}
		for _, pw := range []string{"", "!", encoded, encoded[min(1, len(encoded)):]} {
			if ok, _, err := h.Verify(context.Background(), pw, encoded); ok || err != nil {
				t.Errorf("Verify(%q, %q): got ok=%v err=%v, want false, nil", pw, encoded, ok, err)
			}
		}
		h.slots <- struct{}{}
		_, _, err := h.Verify(context.Background(), "x", encoded)
		<-h.slots
		if !errors.Is(err, ErrBusy) {
			t.Errorf("Verify(%q) with no free slot: got %v, want ErrBusy (a dummy verification)", encoded, err)
		}
	}
}

// TestLegacyVerificationTakesASlot: every format is verified under the
// hasher's concurrency bound.
func TestLegacyVerificationTakesASlot(t *testing.T) {
	h := NewHasher(cheap, 1, 20*time.Millisecond)
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	done := map[string]bool{}
	for _, v := range loadDjangoVectors(t) {
		if done[v.Algorithm] {
			continue
		}
		done[v.Algorithm] = true
		if _, _, err := h.Verify(context.Background(), v.Password, v.Encoded); !errors.Is(err, ErrBusy) {
			t.Errorf("%s with no free slot: got %v, want ErrBusy", v.Algorithm, err)
		}
	}
}

// TestLegacyHashParsingNeverPanics cuts and flips every vector (and native
// hashes) at every position; parsing must refuse or accept, never panic.
func TestLegacyHashParsingNeverPanics(t *testing.T) {
	h := NewHasher(cheap, 1, time.Second)
	native, err := h.Hash(context.Background(), "correct-horse-battery")
	if err != nil {
		t.Fatal(err)
	}
	inputs := []string{native}
	for _, v := range loadDjangoVectors(t) {
		inputs = append(inputs, v.Encoded)
	}
	for _, s := range inputs {
		for i := range len(s) + 1 {
			_, _ = parseStoredHash(s[:i])
			for _, c := range []byte{'$', '0', '9', 'A', '=', ',', 0xff} {
				b := []byte(s)
				if i < len(b) {
					b[i] = c
					_, _ = parseStoredHash(string(b))
				}
			}
		}
	}
}

func TestHashAlgorithmNames(t *testing.T) {
	h := NewHasher(cheap, 1, time.Second)
	native, _ := h.Hash(context.Background(), "correct-horse-battery")
	for encoded, want := range map[string]string{
		native:                    AlgArgon2id,
		"pbkdf2_sha256$1$s$h":     AlgPBKDF2SHA256,
		"pbkdf2_sha1$1$s$h":       AlgPBKDF2SHA1,
		"argon2$argon2id$v=19$":   AlgDjangoArgon2,
		"bcrypt_sha256$$2b$12$x":  AlgBcryptSHA256,
		"bcrypt$$2b$12$x":         AlgBcrypt,
		"scrypt$16384$s$8$1$h":    AlgScrypt,
		"!unusable":               AlgUnusable,
		"":                        AlgUnusable,
		"md5$salt$hash":           AlgUnknownFormat,
		"$argon2i$v=19$m=1,t=1,p": AlgUnknownFormat,
	} {
		if got := HashAlgorithm(encoded); got != want {
			t.Errorf("HashAlgorithm(%.25q): got %q, want %q", encoded, got, want)
		}
	}
	if IsLegacyHash(native) {
		t.Errorf("IsLegacyHash(argon2id): got true, want false")
	}
}

// FuzzParseStoredHash: any stored string parses or is refused without
// panicking, agrees with HashAlgorithm, and a refused one is never
// verifiable. Seeds: every Django vector.
func FuzzParseStoredHash(f *testing.F) {
	b, err := os.ReadFile("testdata/django/vectors.json")
	if err != nil {
		f.Fatal(err)
	}
	var vectors []struct{ Encoded string }
	if err := json.Unmarshal(b, &vectors); err != nil {
		f.Fatal(err)
	}
	for _, v := range vectors {
		f.Add(v.Encoded)
	}
	f.Add("$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")
	f.Fuzz(func(t *testing.T, s string) {
		sh, err := parseStoredHash(s)
		if err != nil {
			if sh != nil {
				t.Fatalf("refused %q but returned a checker", s)
			}
			if (CheckStoredHash(s) == nil) != (HashAlgorithm(s) == AlgUnusable) {
				t.Fatalf("CheckStoredHash(%q) disagrees with the parse", s)
			}
			return
		}
		if sh.alg != HashAlgorithm(s) || CheckStoredHash(s) != nil {
			t.Fatalf("parsed %q as %s, HashAlgorithm says %s", s, sh.alg, HashAlgorithm(s))
		}
	})
}
