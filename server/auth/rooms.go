package auth

import "strings"

// RoomPolicy decides which rooms a user without a rooms claim may join.
type RoomPolicy string

// Room policies of --room-policy.
const (
	RoomsOpen   RoomPolicy = "open"   // any room
	RoomsClosed RoomPolicy = "closed" // none but the user's own
)

// PersonalRoom is the room every socket of a user joins at once.
func PersonalRoom(userID string) string { return "user:" + userID }

// MayJoin reports whether u may join room: personal rooms belong to their user alone; other
// rooms follow the token's rooms claim when it has one, else the policy.
func (u *User) MayJoin(room string, policy RoomPolicy) bool {
	if strings.HasPrefix(room, "user:") {
		return room == PersonalRoom(u.ID)
	}
	if !u.RoomsClaim {
		return policy != RoomsClosed
	}
	for _, p := range u.Rooms {
		if p == "*" || p == room {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(room, prefix) {
			return true
		}
	}
	return false
}
