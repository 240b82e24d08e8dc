package models

import (
	"context"
)

// ActivityPerPage is how many events a page of "your security activity"
// shows.
const ActivityPerPage = 20

// maxActivityPage bounds the page number, so a hostile ?page= cannot ask
// for a huge OFFSET.
const maxActivityPage = 1000

// OwnActivity returns page (from 1) of userID's security events, newest
// first, and whether an older page exists.
func (ev *Events) OwnActivity(ctx context.Context, userID uint, page int) ([]AuthEvent, bool, error) {
	page = min(max(page, 1), maxActivityPage)
	var rows []AuthEvent
	err := ev.db.WithContext(ctx).Where("user_id = ?", userID).Order("created_at DESC, id DESC").
		Offset((page - 1) * ActivityPerPage).Limit(ActivityPerPage + 1).Find(&rows).Error
	if err != nil {
		return nil, false, dbErr("list own activity", err)
	}
	more := len(rows) > ActivityPerPage
	if more {
		rows = rows[:ActivityPerPage]
	}
	return rows, more, nil
}
