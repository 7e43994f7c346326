// Package pgserver finds or starts a real PostgreSQL server for offtake's
// tests, demo and CLI. The rules, in order: the server named by DATABASE_URL
// when that variable is set; else the local server at 127.0.0.1:5432 if one
// answers; else a private cluster started from the machine's PostgreSQL
// binaries (initdb and pg_ctl) in a temporary folder. When none of these is
// possible, Find returns ErrNotFound, whose message is one sentence telling
// the user how to provide a server. Tests get a fresh database per test
// (NewTestDatabase) and stop any private cluster after the package's tests
// (Main). URLs shown to the user go through Redact so passwords never leak.
package pgserver
