// Package migrations holds Outrider's Postgres schema as goose SQL
// migrations, embedded in the binary. persistence/postgres runs them (see
// Store.Migrate); add a change as the next numbered file, never edit one
// that has shipped.
package migrations

import "embed"

// FS holds the migration files, named NNNNN_description.sql.
//
//go:embed *.sql
var FS embed.FS
