package djangoimport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/auth"
	"gatehouse/internal/passhash"
	"gatehouse/models"
)

// TestImportDjango100k imports 100,000 users: all arrive, progress is
// reported per batch, a sample of them logs in with their Django password
// (and is upgraded to argon2id), and a re-run changes nothing. Skipped
// with -short. How long it takes is BenchmarkImportDjango100k's to say.
func TestImportDjango100k(t *testing.T) {
	if testing.Short() {
		t.Skip("100k-user import: not in -short")
	}
	const n = 100_000
	src := makeSyntheticDjangoDB(t, n)
	db := openTestDB(t)
	ctx := context.Background()
	calls := 0
	rep, err := Import(ctx, db, src, Options{Progress: func(done, total int) {
		calls++
		if total != n || done > total {
			t.Errorf("progress: got %d/%d, want at most %d/%d", done, total, n, n)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("imported %d users in %s", rep.Imported, rep.Elapsed)
	if rep.Imported != n || len(rep.Skipped) != 0 {
		t.Fatalf("got imported=%d skipped=%d, want %d, 0", rep.Imported, len(rep.Skipped), n)
	}
	if calls < n/2000 {
		t.Errorf("progress called %d times, want once per batch", calls)
	}
	hasher := passhash.NewHasher(cheap, 1, time.Second)
	users := models.NewUsers(db, hasher)
	l, err := users.List(ctx, models.UserQuery{Active: models.No})
	if err != nil {
		t.Fatal(err)
	}
	if l.Total != n/10 {
		t.Errorf("inactive users: got %d, want %d", l.Total, n/10)
	}
	accounts := auth.NewAccounts(db, hasher, models.NewOutbox(db), auth.Policy{})
	for i := 1; i < n; i += djangoSampleEvery {
		name := fmt.Sprintf("user%07d", i)
		res, err := accounts.Login(ctx, auth.LoginInput{Username: name, Password: djangoSamplePassword(i), IP: "192.0.2.1"})
		if err != nil {
			t.Errorf("log in as imported %s: %v", name, err)
			continue
		}
		if !strings.HasPrefix(res.User.Password, "$argon2id$") {
			t.Errorf("%s after logging in: hash %.20q…, want it upgraded to argon2id", name, res.User.Password)
		}
		if _, err := accounts.Login(ctx, auth.LoginInput{Username: name, Password: "not " + djangoSamplePassword(i), IP: "192.0.2.1"}); !errors.Is(err, models.ErrInvalidCredentials) {
			t.Errorf("log in as %s with a wrong password: got %v, want ErrInvalidCredentials", name, err)
		}
	}
	rep, err = Import(ctx, db, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The sample's upgraded hashes are the site's now; the source's older
	// Django hashes do not overwrite them, so they count as unchanged.
	if rep.Imported != 0 || rep.Updated != 0 || rep.Unchanged != n {
		t.Errorf("re-run: got imported=%d updated=%d unchanged=%d, want 0, 0, %d", rep.Imported, rep.Updated, rep.Unchanged, n)
	}
}
