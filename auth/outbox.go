package auth

import (
	"context"
	"gatehouse/models"
	"strconv"

	"gorm.io/gorm"
)

// AdminRetryMail puts a failed message back in the queue for a staff
// member ("Send again"), in one transaction with the rights check and the
// security event. sent is false when the message is not (or no longer)
// failed.
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
			Detail: models.CodedDetail(models.DetailMailRequeued, "mail", strconv.FormatUint(uint64(messageID), 10))})
	})
	return sent, err
}
