package hub

import (
	"time"

	"edgeio/server"
	"edgeio/server/auth"
)

type roomUser struct{ room, user string }

func (h *Hub) typingStart(s *server.Socket, m *member, args []any) (map[string]any, *chatError) {
	room, err := h.typingRoom(m, args)
	if err != nil {
		return nil, err
	}
	k := roomUser{room, m.user.ID}
	h.mu.Lock()
	_, already := h.typing[k]
	h.typing[k] = time.Now().Add(h.opts.TypingTimeout)
	h.mu.Unlock()
	if !already { // a refresh inside the window is not sent again
		h.emitTyping(m, room, true)
	}
	return nil, nil
}

func (h *Hub) typingStop(s *server.Socket, m *member, args []any) (map[string]any, *chatError) {
	room, err := h.typingRoom(m, args)
	if err != nil {
		return nil, err
	}
	h.stopTyping(m, room)
	return nil, nil
}

func (h *Hub) typingRoom(m *member, args []any) (string, *chatError) {
	room, err := firstRoomArg(args)
	if err != nil {
		return "", err
	}
	if !m.in(room) {
		return "", &chatError{code: CodeNotInRoom, message: "not in room " + room}
	}
	return room, nil
}

// stopTyping ends m's user's typing in room, telling the room if it was on.
func (h *Hub) stopTyping(m *member, room string) {
	k := roomUser{room, m.user.ID}
	h.mu.Lock()
	_, on := h.typing[k]
	delete(h.typing, k)
	h.mu.Unlock()
	if on {
		h.emitTyping(m, room, false)
	}
}

// emitTyping sends user-typing to the room's other users (none of the typist's sockets),
// or in a big room marks the tick's room-typing as due.
func (h *Hub) emitTyping(m *member, room string, on bool) {
	h.tellTyping(room, m.user.ID, m.name, on)
}

func (h *Hub) tellTyping(room, user, name string, on bool) {
	h.mu.Lock()
	big := h.bigLocked(room)
	if big {
		h.batchTypingLocked(room)
	}
	h.mu.Unlock()
	if !big {
		_ = h.nsp.To(room).Except(auth.PersonalRoom(user)).Emit("user-typing", map[string]any{
			"roomId": room, "userId": user, "username": name, "isTyping": on,
		})
	}
}

// typingLoop ends typing that was not refreshed in time, on a tick a tenth of the timeout
// (at most 100 ms).
func (h *Hub) typingLoop() {
	defer h.stopped.Done()
	tick := min(h.opts.TypingTimeout/10, 100*time.Millisecond)
	t := time.NewTicker(max(tick, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			h.expireTyping(now)
		}
	}
}

func (h *Hub) expireTyping(now time.Time) {
	type ended struct {
		key  roomUser
		name string
	}
	var done []ended
	h.mu.Lock()
	for k, until := range h.typing {
		if now.After(until) {
			delete(h.typing, k)
			name := k.user
			if u := h.users[k.user]; u != nil {
				name = u.name
			}
			done = append(done, ended{k, name})
		}
	}
	h.mu.Unlock()
	for _, e := range done {
		h.tellTyping(e.key.room, e.key.user, e.name, false)
	}
}
