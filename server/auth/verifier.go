package auth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Bounds of a token's claims: a token past them is refused (its issuer made a mistake).
const (
	MaxSubject      = 256  // bytes of the sub claim, the user id
	MaxRoomPatterns = 1000 // patterns in the rooms claim
)

// Errors a verification ends with; the chat app answers them UNAUTHORIZED and TOKEN_EXPIRED.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrTokenExpired = errors.New("token expired")
)

// Config selects the keys and checks of a Verifier. Exactly one of Secret and PublicKeyPEM.
type Config struct {
	Secret       []byte        // HS256, HS384, HS512
	PublicKeyPEM []byte        // RS256 (RSA key), ES256 (EC key) or EdDSA (Ed25519 key)
	Issuer       string        // checked when set
	Audience     string        // checked when set
	Leeway       time.Duration // clock skew allowed on exp and nbf (default 30 s)
}

// User is who a verified token names.
type User struct {
	ID         string    // the sub claim
	Name       string    // the name claim, or ID
	Rooms      []string  // the rooms claim: exact names, prefixes ending in '*', or "*"
	RoomsClaim bool      // whether the token had a rooms claim at all
	ExpiresAt  time.Time // zero when the token has no exp
}

type claims struct {
	jwt.RegisteredClaims
	Name  string   `json:"name,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
}

// Verifier checks tokens. Results are cached until the token expires, so a client that
// reconnects often costs one signature check, not one per handshake.
type Verifier struct {
	key    any
	parser *jwt.Parser

	mu    sync.Mutex
	cache map[[sha256.Size]byte]*User // by the token's hash: a token is a few hundred bytes
}

const cacheLimit = 10_000

// NewVerifier builds a Verifier from cfg.
func NewVerifier(cfg Config) (*Verifier, error) {
	var key any
	var methods []string
	switch {
	case len(cfg.Secret) > 0 && len(cfg.PublicKeyPEM) > 0:
		return nil, errors.New("auth: set a secret or a public key, not both")
	case len(cfg.Secret) > 0:
		key, methods = cfg.Secret, []string{"HS256", "HS384", "HS512"}
	case len(cfg.PublicKeyPEM) > 0:
		var err error
		if key, methods, err = parsePublicKey(cfg.PublicKeyPEM); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("auth: no secret and no public key")
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 30 * time.Second
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithLeeway(cfg.Leeway)}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Verifier{key: key, parser: jwt.NewParser(opts...), cache: make(map[[sha256.Size]byte]*User)}, nil
}

func parsePublicKey(pem []byte) (any, []string, error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
		return k, []string{"RS256"}, nil
	}
	if k, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
		return k, []string{"ES256"}, nil
	}
	if k, err := jwt.ParseEdPublicKeyFromPEM(pem); err == nil {
		return k, []string{"EdDSA"}, nil
	}
	return nil, nil, errors.New("auth: the public key is not an RSA, EC or Ed25519 PEM key")
}

// Verify checks token and returns its user: ErrTokenExpired for an expired token,
// ErrUnauthorized (wrapped with the cause) for anything else wrong.
func (v *Verifier) Verify(token string) (*User, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: no token", ErrUnauthorized)
	}
	now := time.Now()
	key := sha256.Sum256([]byte(token))
	v.mu.Lock()
	u := v.cache[key]
	v.mu.Unlock()
	if u != nil && (u.ExpiresAt.IsZero() || now.Before(u.ExpiresAt)) {
		return u, nil
	}
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.key, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrTokenExpired
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	case strings.TrimSpace(c.Subject) == "":
		return nil, fmt.Errorf("%w: no sub claim", ErrUnauthorized)
	case len(c.Subject) > MaxSubject:
		// a user id goes into every message, receipt and room-member event: bounded
		return nil, fmt.Errorf("%w: the sub claim is longer than %d bytes", ErrUnauthorized, MaxSubject)
	case len(c.Rooms) > MaxRoomPatterns:
		return nil, fmt.Errorf("%w: the rooms claim has more than %d patterns", ErrUnauthorized, MaxRoomPatterns)
	}
	u = &User{ID: c.Subject, Name: c.Name, Rooms: c.Rooms, RoomsClaim: c.Rooms != nil}
	if u.Name == "" {
		u.Name = u.ID
	}
	if c.ExpiresAt != nil {
		u.ExpiresAt = c.ExpiresAt.Time
	}
	v.mu.Lock()
	if len(v.cache) >= cacheLimit {
		clear(v.cache) // rare; a refill costs one verification per live token
	}
	v.cache[key] = u
	v.mu.Unlock()
	return u, nil
}
