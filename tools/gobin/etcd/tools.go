//go:build tools

// Package tools pins etcd's server module; `go install go.etcd.io/etcd/server/v3@...` is refused
// because etcd's go.mod carries replace directives, so it is built as a dependency instead.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
