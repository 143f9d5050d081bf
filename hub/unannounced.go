package hub

import (
	"sync"
	"time"
)

// unannounced remembers the sends whose store call failed here. A failure may come after
// the store took the message (Redis gone before its answer came), so the client's resend
// with the same clientMsgId can find it stored: the room never heard of it, and hears of it
// then. Only this node knows it never announced the message: a resend that reaches another
// node is answered without a broadcast, and the room reads the message from history.
type unannounced struct {
	mu    sync.Mutex
	sends map[string]time.Time // user id \x00 clientMsgId → when the send failed
}

const (
	unannouncedFor = 2 * time.Minute // a resend later than this is not waited for
	unannouncedMax = 10_000
)

func (u *unannounced) remember(user, clientID string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	if u.sends == nil {
		u.sends = make(map[string]time.Time)
	}
	if len(u.sends) >= unannouncedMax {
		for k, at := range u.sends {
			if now.Sub(at) > unannouncedFor {
				delete(u.sends, k)
			}
		}
		if len(u.sends) >= unannouncedMax {
			return
		}
	}
	u.sends[user+"\x00"+clientID] = now
}

// take reports whether the send failed here (and forgets it).
func (u *unannounced) take(user, clientID string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := user + "\x00" + clientID
	at, ok := u.sends[k]
	delete(u.sends, k)
	return ok && time.Since(at) <= unannouncedFor
}
