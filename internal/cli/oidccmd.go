package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"gatehouse/internal/oidcop"
	"gatehouse/models"
)

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// oidcClientCmd is `gatehouse oidc-client add|list|remove`: the apps that
// sign people in with Gatehouse. A confidential client's secret is printed
// once and stored hashed.
func oidcClientCmd(fs *flag.FlagSet) runFunc {
	name := fs.String("name", "", "add: the app's name, shown on the consent page")
	var redirects, postLogout, groups listFlag
	fs.Var(&redirects, "redirect-uri", "add: a redirect URI, matched exactly (repeat for several)")
	fs.Var(&postLogout, "post-logout-redirect-uri", "add: where the app may send people after signing out (repeatable)")
	fs.Var(&groups, "group", "add: only members of this group may sign in (repeatable; default: everyone)")
	public := fs.Bool("public", false, "add: a native or browser app without a secret (PKCE required; loopback redirects on any port)")
	skipConsent := fs.Bool("skip-consent", false, "add: do not ask people for consent (apps of your own organisation)")
	backchannel := fs.String("backchannel-logout-uri", "", "add: where to POST a logout token when a user's sign-ins to the app end (OpenID Connect Back-Channel Logout)")
	idTokenAlg := fs.String("id-token-signed-response-alg", "RS256", "add: the algorithm the app's ID tokens are signed with: RS256 or ES256")
	return func(ctx context.Context, e *env, args []string) error {
		action, rest := args[0], args[1:]
		switch action {
		case "add", "list":
			if len(rest) > 0 {
				return &usageError{cmd: "oidc-client", err: fmt.Errorf("oidc-client %s takes no ID (got %q)", action, rest[0])}
			}
		case "remove":
			if len(rest) != 1 {
				return &usageError{cmd: "oidc-client", err: errors.New("oidc-client remove: give one client ID")}
			}
		default:
			return &usageError{cmd: "oidc-client", err: fmt.Errorf("oidc-client: unknown action %q (want add, list or remove)", action)}
		}
		db, err := openDB(ctx, e.cfg)
		if err != nil {
			return err
		}
		defer models.Close(db)
		switch action {
		case "add":
			id, secret, err := oidcop.AddClient(ctx, db, oidcop.CommandLine, oidcop.NewClient{
				Name: *name, RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout,
				Public: *public, SkipConsent: *skipConsent, AllowedGroups: groups, BackchannelLogoutURI: *backchannel,
				IDTokenAlg: *idTokenAlg,
			})
			var ce *oidcop.ClientError
			if errors.As(err, &ce) {
				return &usageError{cmd: "oidc-client", err: fmt.Errorf("oidc-client add: %s", ce.Error())}
			}
			if err != nil {
				return fmt.Errorf("oidc-client add: %w", err)
			}
			fmt.Fprintf(e.stdout, "client_id: %s\n", id)
			if secret != "" {
				fmt.Fprintf(e.stdout, "client_secret: %s\n", secret)
				fmt.Fprintln(e.stderr, "The secret is shown only once: store it in the app's configuration now.")
			}
			return nil
		case "list":
			rows, err := oidcop.Clients(ctx, db)
			if err != nil {
				return fmt.Errorf("oidc-client list: %w", err)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT ID\tNAME\tKIND\tCONSENT\tID TOKEN\tREDIRECT URIS")
			for _, r := range rows {
				kind, consent := "confidential", "asked"
				if r.Public {
					kind = "public"
				}
				if r.SkipConsent {
					consent = "skipped"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ClientID, r.Name, kind, consent, cmp.Or(r.IDTokenAlg, "RS256"), strings.Join(models.Lines(r.RedirectURIs), " "))
			}
			return tw.Flush()
		default: // remove
			err := oidcop.RemoveClient(ctx, db, oidcop.CommandLine, rest[0])
			if errors.Is(err, models.ErrNotFound) {
				return fmt.Errorf("oidc-client remove: no client %q", rest[0])
			}
			if err != nil {
				return fmt.Errorf("oidc-client remove: %w", err)
			}
			fmt.Fprintf(e.stdout, "Removed client %s (its tokens and grants with it).\n", rest[0])
			return nil
		}
	}
}

// oidcKeysCmd is `gatehouse oidc-keys rotate`: a new signing key signs
// from now on; the old one stays in the JWKS until tokens it signed have
// expired (oidcop.KeyRetention).
func oidcKeysCmd(*flag.FlagSet) runFunc {
	return func(ctx context.Context, e *env, args []string) error {
		if args[0] != "rotate" {
			return &usageError{cmd: "oidc-keys", err: fmt.Errorf("oidc-keys: unknown action %q (want rotate)", args[0])}
		}
		db, err := openDB(ctx, e.cfg)
		if err != nil {
			return err
		}
		defer models.Close(db)
		key := e.cfg.SecretKey
		if key == "" {
			if key, _, err = localSecretKey(ctx, e.cfg, db); err != nil {
				return err
			}
		}
		if len(key) < models.MinSecretKeyLen {
			return errors.New("oidc-keys rotate: " + oidcop.ErrUnavailable.Error())
		}
		ids, err := oidcop.RotateKeys(db.WithContext(ctx), key)
		if err != nil {
			return err
		}
		var named []string
		for i, id := range ids {
			named = append(named, fmt.Sprintf("%s (%s)", id, oidcop.Algorithms[i]))
		}
		fmt.Fprintf(e.stdout, "New signing keys %s; the previous ones stay published for %s.\n", strings.Join(named, ", "), oidcop.KeyRetention)
		return nil
	}
}
