// Package examples embeds the example contract files, so `offtake demo` and
// every command run on a fresh machine with nothing but the binary.
package examples

import "embed"

// Files holds the example contract files.
//
//go:embed *.yaml
var Files embed.FS

// Default is the example file commands use when no --contracts is given.
const Default = "coyote-flats.yaml"
