package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"gatehouse/internal/validate"
	"gatehouse/models"
)

// Management commands, like Django's manage.py ones. Each checks what it
// can as early as it can (a taken username before asking for a password),
// prompts again after a mistake on a terminal, and ends with the model call.

// changePasswordTries is how many times changepassword asks before giving
// up, as Django's does.
const changePasswordTries = 3

// errCancelled ends a prompt when the input ends (Ctrl-D).
var errCancelled = errors.New("cancelled: the input ended")

// createSuperuser is Django's createsuperuser: prompts on a terminal (the
// password hidden), or takes --username/--email and --password-stdin.
func createSuperuser(fs *flag.FlagSet) runFunc {
	username := fs.String("username", "", "username of the new superuser (prompted for on a terminal)")
	email := fs.String("email", "", "e-mail address of the new superuser (prompted for on a terminal)")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input (no prompt, no bypass)")
	return func(ctx context.Context, e *env, _ []string) error {
		in := newPrompter(e.stdin, e.stdout)
		if *username == "" && !in.interactive() {
			return errors.New("createsuperuser: --username is required when not run in a terminal")
		}
		if !*passwordStdin && !in.interactive() {
			return errors.New("createsuperuser: no terminal to prompt for the password; use --password-stdin")
		}
		db, err := openDB(ctx, e.cfg)
		if err != nil {
			return err
		}
		defer models.Close(db)
		users := models.NewUsers(db, newHasher(e.cfg))

		checkUsername := func(name string) (string, error) {
			name = validate.NormalizeUsername(name)
			if name == "" {
				return "", errors.New("Error: This field cannot be blank.")
			}
			if msg := validate.ValidateUsername(name); msg != "" {
				return "", errors.New("Error: " + msg)
			}
			taken, err := users.UsernameTaken(ctx, name)
			if err != nil {
				return "", err
			}
			if taken {
				return "", errors.New("Error: That username is already taken.")
			}
			return name, nil
		}
		checkEmail := func(addr string) (string, error) {
			addr = validate.NormalizeEmail(addr)
			if msg := validate.ValidateEmail(addr); msg != "" {
				return "", errors.New("Error: " + msg)
			}
			return addr, nil
		}
		nu := models.NewUser{IsStaff: true, IsSuperuser: true}
		if nu.Username, err = in.ask("Username: ", *username, checkUsername); err != nil {
			return fmt.Errorf("createsuperuser: %w", err)
		}
		if *email != "" || in.interactive() {
			if nu.Email, err = in.ask("Email address: ", *email, checkEmail); err != nil {
				return fmt.Errorf("createsuperuser: %w", err)
			}
		}
		if *passwordStdin {
			nu.Password, err = in.passwordLine()
		} else {
			check := func(pw string) []string { return validate.ValidatePassword(pw, nu.Username, nu.Email) }
			nu.Password, nu.SkipPasswordValidation, err = in.newPassword(check, true, 0)
		}
		if err != nil {
			return fmt.Errorf("createsuperuser: %w", err)
		}

		u, err := newCore(e.cfg, db).Accounts.CreateByCommand(ctx, nu, "createsuperuser")
		if err != nil {
			return fmt.Errorf("createsuperuser: %s", describeCreateError(err))
		}
		fmt.Fprintf(e.stdout, "Superuser %q created successfully.\n", u.Username)
		return nil
	}
}

// changePassword is Django's changepassword USERNAME.
func changePassword(fs *flag.FlagSet) runFunc {
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input (no prompt)")
	return func(ctx context.Context, e *env, args []string) error {
		in := newPrompter(e.stdin, e.stdout)
		if !*passwordStdin && !in.interactive() {
			return errors.New("changepassword: no terminal to prompt for the password; use --password-stdin")
		}
		db, err := openDB(ctx, e.cfg)
		if err != nil {
			return err
		}
		defer models.Close(db)
		users := models.NewUsers(db, newHasher(e.cfg))
		u, err := users.ByUsername(ctx, args[0])
		if errors.Is(err, models.ErrNotFound) {
			return fmt.Errorf("changepassword: user %q does not exist", args[0])
		}
		if err != nil {
			return fmt.Errorf("changepassword: %w", err)
		}
		fmt.Fprintf(e.stdout, "Changing password for user %q\n", u.Username)
		var password string
		if *passwordStdin {
			password, err = in.passwordLine()
		} else {
			check := func(pw string) []string { return validate.ValidatePassword(pw, u.Username, u.Email) }
			password, _, err = in.newPassword(check, false, changePasswordTries)
		}
		if err != nil {
			return fmt.Errorf("changepassword: %w", err)
		}

		// One transaction: the password, its reset links voided, every
		// session ended, the event, the notice queued for the server to
		// mail.
		u, n, err := newCore(e.cfg, db).Accounts.SetPasswordByCommand(ctx, u.Username, password)
		if err != nil {
			return fmt.Errorf("changepassword: %s", describeCreateError(err))
		}
		fmt.Fprintf(e.stdout, "Password changed successfully for user %q; %d session(s) ended.\n", u.Username, n)
		return nil
	}
}

func clearSessions(*flag.FlagSet) runFunc {
	return func(ctx context.Context, e *env, _ []string) error {
		db, err := openDB(ctx, e.cfg)
		if err != nil {
			return err
		}
		defer models.Close(db)
		// Exactly the server's sweeps (core.Core.Sweeps), once each.
		for _, job := range newCore(e.cfg, db).Sweeps() {
			n, err := job.Run(ctx)
			if err != nil {
				return fmt.Errorf("clearsessions: %s: %w", job.What, err)
			}
			fmt.Fprintf(e.stdout, "Deleted %d %s.\n", n, job.What)
		}
		return nil
	}
}

func describeCreateError(err error) string {
	var verr *models.ValidationError
	if errors.As(err, &verr) {
		var parts []string
		for _, field := range []string{"username", "email", "password"} {
			for _, m := range verr.Fields[field] {
				parts = append(parts, field+": "+m)
			}
		}
		return strings.Join(parts, "; ")
	}
	if errors.Is(err, models.ErrDuplicateUsername) {
		return "Error: That username is already taken."
	}
	if errors.Is(err, models.ErrDuplicateEmail) {
		return "Error: That e-mail address is already in use."
	}
	return err.Error()
}

// prompter reads answers from a terminal (hiding passwords) or a pipe.
type prompter struct {
	in  *bufio.Reader
	fd  int
	tty bool
	out io.Writer
}

func newPrompter(stdin io.Reader, stdout io.Writer) *prompter {
	p := &prompter{in: bufio.NewReader(stdin), fd: -1, out: stdout}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.fd, p.tty = int(f.Fd()), true
	}
	return p
}

func (p *prompter) interactive() bool { return p.tty }

// line prompts and reads one line; errCancelled when the input ends first.
func (p *prompter) line(prompt string) (string, error) {
	fmt.Fprint(p.out, prompt)
	s, err := p.in.ReadString('\n')
	if err != nil && (s == "" || !errors.Is(err, io.EOF)) {
		fmt.Fprintln(p.out)
		return "", errCancelled
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// hidden prompts and reads one line without echo.
func (p *prompter) hidden(prompt string) (string, error) {
	fmt.Fprint(p.out, prompt)
	b, err := term.ReadPassword(p.fd)
	fmt.Fprintln(p.out)
	if errors.Is(err, io.EOF) {
		return "", errCancelled
	}
	return string(b), err
}

// ask returns given, checked, when it is set; otherwise it prompts on the
// terminal until check accepts an answer, printing each refusal. check
// returns the value to use (normalised).
func (p *prompter) ask(prompt, given string, check func(string) (string, error)) (string, error) {
	if given != "" || !p.interactive() {
		return check(given)
	}
	for {
		answer, err := p.line(prompt)
		if err != nil {
			return "", err
		}
		v, err := check(answer)
		if err == nil {
			return v, nil
		}
		if !strings.HasPrefix(err.Error(), "Error: ") {
			return "", err // not the answer's fault (a database error)
		}
		fmt.Fprintln(p.out, err)
	}
}

// passwordLine reads the password for --password-stdin: the first line of
// standard input.
func (p *prompter) passwordLine() (string, error) {
	s, err := p.in.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	s = strings.TrimRight(s, "\r\n")
	if s == "" {
		return "", errors.New("--password-stdin: standard input held no password")
	}
	return s, nil
}

// newPassword asks on the terminal for a new password twice, hidden, until
// both match and check finds nothing wrong with it. With allowBypass a
// refused password may be kept anyway after a y (Django's createsuperuser);
// bypassed reports that. tries > 0 gives up after that many refusals
// (Django's changepassword gives up after 3).
func (p *prompter) newPassword(check func(string) []string, allowBypass bool, tries int) (password string, bypassed bool, err error) {
	for attempt := 1; ; attempt++ {
		pw1, err := p.hidden("Password: ")
		if err != nil {
			return "", false, err
		}
		pw2, err := p.hidden("Password (again): ")
		if err != nil {
			return "", false, err
		}
		switch problems := check(pw1); {
		case pw1 != pw2:
			fmt.Fprintln(p.out, "Error: Your passwords didn't match.")
		case pw1 == "":
			fmt.Fprintln(p.out, "Error: Blank passwords aren't allowed.")
		case len(problems) == 0:
			return pw1, false, nil
		default:
			fmt.Fprintln(p.out, strings.Join(problems, "\n"))
			if allowBypass {
				answer, err := p.line("Bypass password validation and create user anyway? [y/N]: ")
				if err != nil {
					return "", false, err
				}
				if strings.EqualFold(strings.TrimSpace(answer), "y") {
					return pw1, true, nil
				}
			}
		}
		if tries > 0 && attempt >= tries {
			return "", false, fmt.Errorf("gave up after %d attempts; the password is unchanged", tries)
		}
	}
}
