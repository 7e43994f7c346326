// Package data embeds the real data files behind the examples built from
// public ISO data (pjm-2025/), with the replay mapping of each, so the demo
// and tests replay them from the binary alone.
package data

import "embed"

// Files holds each example's folder: its data files and replay.yaml.
//
//go:embed pjm-2025/*.csv pjm-2025/replay.yaml pjm-2025/README.md
var Files embed.FS
