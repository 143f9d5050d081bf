package hub

import (
	"strconv"
	"time"

	"edgeio/hub/store"
	"edgeio/server/security"
)

// limits are the per-user budgets of the events that write to the store or broadcast to a
// room (docs/security.md): one token bucket per user and budget on this node, over all the
// user's sockets. A bucket is forgotten once it is full again, so memory follows the users
// active within a budget's period.
type limits struct {
	messages *security.KeyedLimiter // send-message
	edits    *security.KeyedLimiter // edit-message and delete-message, one budget
	receipts *security.KeyedLimiter // mark-as-read
	presence *security.KeyedLimiter // update-presence
	joins    *security.KeyedLimiter // join-room and leave-room, one budget
	stored   *security.KeyedLimiter // bytes of text and attachments stored (sends and edits), a day
}

func newLimits(o Options) limits {
	perMinute := func(n int) *security.KeyedLimiter { return security.NewKeyedLimiter(n, time.Minute, n) }
	perSecond := func(n int) *security.KeyedLimiter { return security.NewKeyedLimiter(n, time.Second, n) }
	return limits{
		messages: perMinute(o.MessagesPerMinute),
		edits:    perMinute(o.EditsPerMinute),
		receipts: perSecond(o.ReceiptsPerSecond),
		presence: perSecond(o.PresencePerSecond),
		joins:    perMinute(o.JoinsPerMinute),
		stored:   security.NewKeyedLimiter(o.StorageQuota, 24*time.Hour, o.StorageQuota),
	}
}

// allow spends one token of m's user from budget, or refuses with RATE_LIMITED, counted in
// the metrics as reason.
func (h *Hub) allow(budget *security.KeyedLimiter, m *member, reason string) *chatError {
	if ok, wait := budget.Allow(m.user.ID); !ok {
		h.opts.OnRefused(reason)
		return rateLimited(wait)
	}
	return nil
}

// allowStored spends size bytes of m's user's storage quota, or refuses: RATE_LIMITED with
// the wait until the quota has refilled enough, PAYLOAD_TOO_LARGE for more than a whole
// day's quota.
func (h *Hub) allowStored(m *member, size int) *chatError {
	quota := h.opts.StorageQuota
	if quota <= 0 {
		return nil
	}
	if size > quota {
		h.opts.OnRefused("storage_quota")
		return &chatError{code: CodePayloadTooLarge, message: "larger than the storage quota of " + strconv.Itoa(quota) + " bytes a day"}
	}
	if ok, wait := h.limits.stored.AllowN(m.user.ID, size); !ok {
		h.opts.OnRefused("storage_quota")
		e := rateLimited(wait)
		e.message = "storage quota reached (" + strconv.Itoa(quota) + " bytes a day): retry later"
		return e
	}
	return nil
}

// storedSize is what a message's text and attachments count against the storage quota.
func storedSize(content string, atts []store.Attachment) int {
	n := len(content)
	for _, a := range atts {
		n += len(a.URL) + len(a.Name) + len(a.Type) + len(a.Data)
	}
	return n
}
