package websession

import (
	"gatehouse/models"
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

// TestUserColumnsMatchSchema keeps the session hot path's hand-written
// column list in step with the User model: a column added to User and not
// to userColumns would be silently empty on every signed-in request.
func TestUserColumnsMatchSchema(t *testing.T) {
	s, err := schema.Parse(&models.User{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkUserColumns(s.DBNames); err != nil {
		t.Fatal(err)
	}
	if err := checkUserColumns(append(s.DBNames, "nickname")); err == nil {
		t.Error("checkUserColumns with an extra model column: got nil, want an error")
	}
	if err := checkUserColumns(s.DBNames[1:]); err == nil {
		t.Error("checkUserColumns with a column missing from the model: got nil, want an error")
	}
}
