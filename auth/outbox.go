package auth

import (
	"context"
	"fmt"
	"gatehouse/models"

	"gorm.io/gorm"
)

func (a *Accounts) AdminRetryMail(ctx context.Context, actorID, messageID uint) (sent bool, err error) {
	err = a.transaction(ctx, "retry mail", func(tx *gorm.DB) error {
		actor, err := loadActor(tx, actorID)
		if err != nil {
			return err
		}
		n, err := models.RetryMail(tx, []uint{messageID}, false)
		if err != nil || n == 0 {
			return err
		}
		sent = true
		return models.RecordEvent(tx, ctx, models.AuthEvent{Kind: models.EventAdminAction, ActorID: &actor.ID,
			Detail: fmt.Sprintf("failed mail %d queued again by staff", messageID)})
	})
	return sent, err
}
