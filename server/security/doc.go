// Package security holds the rules that keep one client from hurting others: input
// validation and sanitizing of what clients send. Its functions are pure and safe for
// concurrent use.
package security
