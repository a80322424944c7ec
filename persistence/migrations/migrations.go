// Package migrations holds Outrider's schema as goose SQL migrations, one
// folder per SQL dialect side by side, embedded in the binary:
// postgres/ is run by persistence/postgres and sqlite/ by
// persistence/sqlite (see their Store.Migrate).
//
// Add a change as the next numbered file in both folders; never edit one
// that has shipped.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Postgres holds the Postgres migrations, named NNNNN_description.sql.
var Postgres = sub("postgres")

// SQLite holds the SQLite migrations, named NNNNN_description.sql.
var SQLite = sub("sqlite")

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // dir is a constant naming an embedded folder
	}
	return f
}
