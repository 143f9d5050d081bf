package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pemOf(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestHMACTokens(t *testing.T) {
	secret := []byte("s3cret")
	v, err := NewVerifier(Config{Secret: secret, Leeway: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		u, err := v.Verify(sign(t, m, secret, jwt.MapClaims{"sub": "alice", "name": "Alice", "rooms": []string{"team-*"}, "exp": exp}))
		if err != nil || u.ID != "alice" || u.Name != "Alice" || !u.RoomsClaim || u.Rooms[0] != "team-*" {
			t.Fatalf("%s: %+v %v", m.Alg(), u, err)
		}
	}
	u, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "bob"}))
	if err != nil || u.Name != "bob" || u.RoomsClaim {
		t.Fatalf("name falls back to sub: %+v %v", u, err)
	}

	bad := map[string]string{
		"wrong secret": sign(t, jwt.SigningMethodHS256, []byte("other"), jwt.MapClaims{"sub": "x"}),
		"no sub":       sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"name": "x"}),
		"not yet":      sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "x", "nbf": time.Now().Add(time.Minute).Unix()}),
		"alg none":     sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "x"}),
		"garbage":      "a.b.c",
		"empty":        "",
		"long sub":     sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": strings.Repeat("x", MaxSubject+1)}),
		"many rooms":   sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "x", "rooms": make([]string, MaxRoomPatterns+1)}),
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": strings.Repeat("x", MaxSubject)})); err != nil {
		t.Errorf("a sub of %d bytes: %v", MaxSubject, err)
	}
	for name, tok := range bad {
		if _, err := v.Verify(tok); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: err = %v, want unauthorized", name, err)
		}
	}
	expired := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(-time.Minute).Unix()})
	if _, err := v.Verify(expired); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("expired: err = %v", err)
	}
	withinLeeway := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "x", "exp": time.Now().Unix()})
	if _, err := v.Verify(withinLeeway); err != nil {
		t.Errorf("inside the leeway: %v", err)
	}
}

func TestCachedTokenStillExpires(t *testing.T) {
	secret := []byte("k")
	v, _ := NewVerifier(Config{Secret: secret, Leeway: time.Millisecond})
	exp := time.Now().Add(2 * time.Second).Unix()
	tok := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "x", "exp": exp})
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err != nil {
		t.Fatal("cached verification failed:", err)
	}
	time.Sleep(time.Until(time.Unix(exp, 0)) + 50*time.Millisecond)
	if _, err := v.Verify(tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired cached token: %v", err)
	}
}

func TestIssuerAndAudience(t *testing.T) {
	secret := []byte("k")
	v, _ := NewVerifier(Config{Secret: secret, Issuer: "edgeio", Audience: "chat"})
	good := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "x", "iss": "edgeio", "aud": "chat"})
	if _, err := v.Verify(good); err != nil {
		t.Fatal(err)
	}
	for _, c := range []jwt.MapClaims{{"sub": "x", "iss": "other", "aud": "chat"}, {"sub": "x", "iss": "edgeio", "aud": "mail"}, {"sub": "x"}} {
		if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, c)); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%v: err = %v", c, err)
		}
	}
}

func TestPublicKeyFamilies(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		pub    any
		method jwt.SigningMethod
		priv   any
	}{
		{&rsaKey.PublicKey, jwt.SigningMethodRS256, rsaKey},
		{&ecKey.PublicKey, jwt.SigningMethodES256, ecKey},
		{edPub, jwt.SigningMethodEdDSA, edPriv},
	}
	for _, c := range cases {
		pemKey := pemOf(t, c.pub)
		v, err := NewVerifier(Config{PublicKeyPEM: pemKey})
		if err != nil {
			t.Fatal(err)
		}
		if u, err := v.Verify(sign(t, c.method, c.priv, jwt.MapClaims{"sub": "k"})); err != nil || u.ID != "k" {
			t.Fatalf("%s: %v", c.method.Alg(), err)
		}
		// algorithm confusion: an HMAC token keyed with the public key's PEM bytes
		confused := sign(t, jwt.SigningMethodHS256, pemKey, jwt.MapClaims{"sub": "k"})
		if _, err := v.Verify(confused); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("%s accepted an HS256 token: %v", c.method.Alg(), err)
		}
	}
	if _, err := NewVerifier(Config{PublicKeyPEM: []byte("not a key")}); err == nil {
		t.Fatal("a bad PEM was accepted")
	}
	if _, err := NewVerifier(Config{}); err == nil {
		t.Fatal("no key was accepted")
	}
	if _, err := NewVerifier(Config{Secret: []byte("a"), PublicKeyPEM: pemOf(t, edPub)}); err == nil {
		t.Fatal("both keys were accepted")
	}
}

func TestMintRoundTrip(t *testing.T) {
	secret := []byte(NewSecret())
	if len(secret) != 64 {
		t.Fatalf("secret length %d", len(secret))
	}
	tok, err := Mint(secret, "carol", "Carol", []string{"a", "b*"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(Config{Secret: secret})
	u, err := v.Verify(tok)
	if err != nil || u.ID != "carol" || u.Name != "Carol" || len(u.Rooms) != 2 || time.Until(u.ExpiresAt) < 59*time.Minute {
		t.Fatalf("%+v %v", u, err)
	}
}

func TestMayJoin(t *testing.T) {
	withClaim := &User{ID: "u1", Rooms: []string{"general", "team-*"}, RoomsClaim: true}
	all := &User{ID: "u2", Rooms: []string{"*"}, RoomsClaim: true}
	noClaim := &User{ID: "u3"}
	cases := []struct {
		u      *User
		room   string
		policy RoomPolicy
		want   bool
	}{
		{withClaim, "general", RoomsClosed, true},
		{withClaim, "team-red", RoomsClosed, true},
		{withClaim, "team", RoomsOpen, false},
		{withClaim, "random", RoomsOpen, false},
		{withClaim, "user:u1", RoomsClosed, true},
		{withClaim, "user:u2", RoomsOpen, false},
		{all, "anything", RoomsClosed, true},
		{all, "user:u1", RoomsOpen, false},
		{noClaim, "anything", RoomsOpen, true},
		{noClaim, "anything", RoomsClosed, false},
		{noClaim, "user:u3", RoomsClosed, true},
	}
	for _, c := range cases {
		if got := c.u.MayJoin(c.room, c.policy); got != c.want {
			t.Errorf("%s MayJoin(%q, %s) = %v", c.u.ID, c.room, c.policy, got)
		}
	}
}

func TestTokenFrom(t *testing.T) {
	h := http.Header{"Authorization": {"Bearer from-header"}}
	q := url.Values{"token": {"from-query"}}
	if got := TokenFrom(map[string]any{"token": "from-auth"}, h, q); got != "from-auth" {
		t.Fatal(got)
	}
	if got := TokenFrom(map[string]any{"token": 5}, h, q); got != "from-header" {
		t.Fatal(got)
	}
	if got := TokenFrom(nil, http.Header{}, q); got != "from-query" {
		t.Fatal(got)
	}
	if got := TokenFrom(nil, http.Header{"Authorization": {"Basic x"}}, url.Values{}); got != "" {
		t.Fatal(got)
	}
}
