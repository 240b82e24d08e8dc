package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"gatehouse/internal/passhash"
	"gatehouse/models"
)

// console runs one command on a real pseudo-terminal, as a person at a
// terminal would: the command sees a TTY on standard input and output
// (so it prompts, and hides passwords), the test types into the other end
// and reads everything the terminal shows, echo included.
type console struct {
	t      *testing.T
	ptmx   *os.File // the test's end
	tty    *os.File // the command's end
	screen *syncWriter
	seen   int // how much of the screen expect has consumed
	done   chan error
	stderr bytes.Buffer
}

func startConsole(t *testing.T, env map[string]string, args ...string) *console {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	c := &console{t: t, ptmx: ptmx, tty: tty, screen: &syncWriter{}, done: make(chan error, 1)}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(c.screen, ptmx) // ends with EIO once tty closes
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	go func() { c.done <- run(ctx, args, envMap(env), tty, tty, &c.stderr) }()
	t.Cleanup(func() {
		// A command still reading (the test failed early) is blocked in a
		// read that closing the file does not interrupt (the prompter's
		// Fd() made it blocking). End-of-input (^D) ends any prompt.
		cancel()
		for stop := time.After(10 * time.Second); ; {
			select {
			case err := <-c.done:
				c.done <- err
			case <-stop:
				t.Errorf("command did not end after ^D; screen:\n%s", c.screen.String())
			case <-time.After(50 * time.Millisecond):
				_, _ = ptmx.Write([]byte{4})
				continue
			}
			break
		}
		tty.Close()
		ptmx.Close()
		<-copied
	})
	return c
}

// expect waits until the terminal shows want after what was consumed.
func (c *console) expect(want string) {
	c.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		s := c.screen.String()
		if i := strings.Index(s[c.seen:], want); i >= 0 {
			c.seen += i + len(want)
			return
		}
	}
	c.t.Fatalf("terminal never showed %q; after the last match it shows:\n%s", want, c.screen.String()[c.seen:])
}

// echoing reports whether the terminal echoes what is typed.
func (c *console) echoing() bool {
	tio, err := unix.IoctlGetTermios(int(c.tty.Fd()), unix.TCGETS)
	if err != nil {
		c.t.Fatalf("read terminal mode: %v", err)
	}
	return tio.Lflag&unix.ECHO != 0
}

// waitEcho waits until the command has set the terminal's echo as wanted
// (it turns echo off just after printing a password prompt), so nothing is
// typed before a person could type it.
func (c *console) waitEcho(want bool) {
	c.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if c.echoing() == want {
			return
		}
	}
	c.t.Fatalf("terminal echo never became %v; screen:\n%s", want, c.screen.String())
}

// answer waits for prompt and types a line that the terminal echoes.
func (c *console) answer(prompt, line string) {
	c.t.Helper()
	c.expect(prompt)
	c.waitEcho(true)
	c.typeLine(line)
}

// answerHidden waits for a password prompt and types a line while echo is
// off.
func (c *console) answerHidden(prompt, line string) {
	c.t.Helper()
	c.expect(prompt)
	c.waitEcho(false)
	c.typeLine(line)
}

func (c *console) typeLine(line string) {
	c.t.Helper()
	if _, err := c.ptmx.WriteString(line + "\r"); err != nil {
		c.t.Fatalf("type: %v", err)
	}
}

// finish waits for the command to end and returns its error.
func (c *console) finish() error {
	c.t.Helper()
	select {
	case err := <-c.done:
		c.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		c.t.Fatalf("command still running; screen:\n%s", c.screen.String())
		return nil
	}
}

// notShown fails when the terminal ever showed secret.
func (c *console) notShown(secrets ...string) {
	c.t.Helper()
	for _, s := range secrets {
		if strings.Contains(c.screen.String(), s) {
			c.t.Errorf("the terminal showed the password %q:\n%s", s, c.screen.String())
		}
	}
}

func interactiveEnv(t *testing.T) (map[string]string, *models.Users) {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "tty.db")
	env := map[string]string{"DATABASE_URL": dbPath, "HASH_CONCURRENCY": "1"}
	db, err := models.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { models.Close(db) })
	return env, models.NewUsers(db, passhash.NewHasher(passhash.DefaultHashParams, 1, 10*time.Second))
}

func wantLogin(t *testing.T, users *models.Users, username, password string, ok bool) {
	t.Helper()
	u, err := users.ByUsername(context.Background(), username)
	if err == nil {
		var match bool
		if match, _, err = users.Hasher().Verify(context.Background(), password, u.Password); err == nil && !match {
			err = models.ErrInvalidCredentials
		}
	}
	if got := err == nil; got != ok {
		t.Errorf("log in as %s with %q: got success %v (%v), want %v", username, password, got, err, ok)
	}
}

// createsuperuser on a terminal checks the username (blank, invalid,
// taken) and the e-mail before asking for a password, asks again after a
// mismatch or a refused password, and hides what is typed.
func TestCreateSuperuserOnATerminal(t *testing.T) {
	env, users := interactiveEnv(t)
	if _, _, err := runMain(t, env, "Sup3r-Secret-pass\n", "createsuperuser", "--username", "root", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	c := startConsole(t, env, "createsuperuser")
	c.answer("Username: ", "")
	c.expect("Error: This field cannot be blank.")
	c.answer("Username: ", "bad user")
	c.expect("Error: Enter a valid username.")
	c.answer("Username: ", "ROOT")
	c.expect("Error: That username is already taken.")
	c.answer("Username: ", "admin")
	c.answer("Email address: ", "nope")
	c.expect("Error: Enter a valid email address.")
	c.answer("Email address: ", "admin@example.com")
	c.answerHidden("Password: ", "Ca1m-Harbour-Lights")
	c.answerHidden("Password (again): ", "Ca1m-Harbour-Light")
	c.expect("Error: Your passwords didn't match.")
	c.answerHidden("Password: ", "admin123")
	c.answerHidden("Password (again): ", "admin123")
	c.expect("The password is too similar to the username.")
	c.answer("Bypass password validation and create user anyway? [y/N]: ", "")
	c.answerHidden("Password: ", "Ca1m-Harbour-Lights")
	c.answerHidden("Password (again): ", "Ca1m-Harbour-Lights")
	c.expect(`Superuser "admin" created successfully.`)
	if err := c.finish(); err != nil {
		t.Fatalf("got %v; screen:\n%s", err, c.screen.String())
	}
	c.notShown("Ca1m-Harbour-Light", "admin123")
	wantLogin(t, users, "admin", "Ca1m-Harbour-Lights", true)
	if u, err := users.ByUsername(context.Background(), "admin"); err != nil || !u.IsSuperuser || u.Email != "admin@example.com" {
		t.Errorf("got %+v, %v; want a superuser with admin@example.com", u, err)
	}
}

// As Django's, createsuperuser on a terminal lets its user keep a refused
// password after saying y; nothing else (a pipe, --password-stdin) can.
func TestCreateSuperuserBypassOnATerminalOnly(t *testing.T) {
	env, users := interactiveEnv(t)
	c := startConsole(t, env, "createsuperuser", "--username", "boss", "--email", "boss@example.com")
	c.answerHidden("Password: ", "password")
	c.answerHidden("Password (again): ", "password")
	c.expect("This password is too common.")
	c.answer("Bypass password validation and create user anyway? [y/N]: ", "y")
	c.expect(`Superuser "boss" created successfully.`)
	if err := c.finish(); err != nil {
		t.Fatalf("got %v; screen:\n%s", err, c.screen.String())
	}
	wantLogin(t, users, "boss", "password", true)

	out, _, err := runMain(t, env, "password\ny\n", "createsuperuser", "--username", "boss2", "--password-stdin")
	if err == nil || !strings.Contains(err.Error(), "too common") || strings.Contains(out, "Bypass") {
		t.Errorf("--password-stdin with a common password: got %v, %q; want refused without a bypass", err, out)
	}
}

// Ctrl-D at a prompt ends the command without creating anything.
func TestCreateSuperuserEndOfInput(t *testing.T) {
	env, users := interactiveEnv(t)
	c := startConsole(t, env, "createsuperuser")
	c.answer("Username: ", "carol")
	c.expect("Email address: ")
	c.waitEcho(true)
	if _, err := c.ptmx.Write([]byte{4}); err != nil { // ^D
		t.Fatal(err)
	}
	if err := c.finish(); err == nil || !errors.Is(err, errCancelled) {
		t.Fatalf("got %v, want cancelled", err)
	}
	if _, err := users.ByUsername(context.Background(), "carol"); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("user after cancel: got %v, want not found", err)
	}
}

// changepassword asks again after a mismatch or a refused password and
// gives up after three tries, as Django's does, leaving the password.
func TestChangePasswordOnATerminal(t *testing.T) {
	env, users := interactiveEnv(t)
	if _, _, err := runMain(t, env, "Sup3r-Secret-pass\n", "createsuperuser", "--username", "root", "--email", "root@example.com", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	t.Run("gives up after three tries", func(t *testing.T) {
		c := startConsole(t, env, "changepassword", "root")
		c.expect(`Changing password for user "root"`)
		c.answerHidden("Password: ", "Tw0-Different-things")
		c.answerHidden("Password (again): ", "Tw0-Different-thing")
		c.expect("Error: Your passwords didn't match.")
		c.answerHidden("Password: ", "12345678")
		c.answerHidden("Password (again): ", "12345678")
		c.expect("This password is entirely numeric.")
		c.answerHidden("Password: ", "iloveyou")
		c.answerHidden("Password (again): ", "iloveyou")
		c.expect("This password is too common.")
		err := c.finish()
		if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
			t.Fatalf("got %v, want gave up after 3; screen:\n%s", err, c.screen.String())
		}
		if strings.Contains(c.screen.String(), "Bypass") {
			t.Error("changepassword offered to bypass validation; Django's does not")
		}
		c.notShown("Tw0-Different-thing", "12345678", "iloveyou")
		wantLogin(t, users, "root", "Sup3r-Secret-pass", true)
	})
	t.Run("changes it after a mistake", func(t *testing.T) {
		c := startConsole(t, env, "changepassword", "root")
		c.answerHidden("Password: ", "N3w-Harbour-Lights")
		c.answerHidden("Password (again): ", "N3w-Harbour-Light")
		c.expect("Error: Your passwords didn't match.")
		c.answerHidden("Password: ", "N3w-Harbour-Lights")
		c.answerHidden("Password (again): ", "N3w-Harbour-Lights")
		c.expect(`Password changed successfully for user "root"`)
		if err := c.finish(); err != nil {
			t.Fatalf("got %v; screen:\n%s", err, c.screen.String())
		}
		c.notShown("N3w-Harbour-Light")
		wantLogin(t, users, "root", "N3w-Harbour-Lights", true)
		wantLogin(t, users, "root", "Sup3r-Secret-pass", false)
	})
}

// The prompter tells a terminal from a pipe or a file.
func TestPrompterDetectsTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if !newPrompter(tty, io.Discard).interactive() {
		t.Error("a pseudo-terminal: got not interactive")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if newPrompter(r, io.Discard).interactive() {
		t.Error("a pipe: got interactive")
	}
	if newPrompter(strings.NewReader("x\n"), io.Discard).interactive() {
		t.Error("a reader: got interactive")
	}
}
