package auth

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Mint signs a development token with HS256: sub, an optional name and rooms claim, and an
// expiry ttl from now (none when ttl is 0; a negative ttl makes an expired token, for tests).
func Mint(secret []byte, sub, name string, rooms []string, ttl time.Duration) (string, error) {
	now := time.Now()
	c := claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub, IssuedAt: jwt.NewNumericDate(now)}, Name: name, Rooms: rooms}
	if ttl != 0 {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}

// NewSecret returns a random 32-byte secret, hex-encoded, for a server started without one.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
