//go:build !unix

package models

import (
	"context"
	"database/sql/driver"
	"errors"
)

// watchSQLite has no shared-memory file to read here: no change watch,
// so nothing is cached (changes_unix.go).
func watchSQLite(context.Context, string, func(context.Context) (driver.Conn, error)) (ChangeWatch, func(), error) {
	return nil, nil, errors.New("change watch: not supported on this platform")
}
