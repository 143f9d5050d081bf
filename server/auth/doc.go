// Package auth verifies the JWTs that clients present at the Socket.IO handshake and mints
// development tokens. A Verifier accepts only the algorithm family it was configured with
// (HMAC from a secret, or RSA/ECDSA/EdDSA from a PEM public key), so `alg: none` and
// algorithm confusion are refused. A Verifier is safe for concurrent use.
package auth
