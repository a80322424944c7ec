// Package migrations holds Outrider's schema as goose SQL migrations, one
// folder per SQL dialect side by side, embedded in the binary:
// postgres/ is run by persistence/postgres and sqlite/ by
// persistence/sqlite (see their Store.Migrate).
//
// A change to the schema is one migration with the same file name,
// NNNNN_description.sql, in both folders: the next number, never an edit
// of a file that has shipped. When a dialect needs nothing for a change
// (it already has what the other one adds), its file holds only the goose
// annotations and a comment saying why; goose records it as applied all
// the same. The SQLite translation is described at the top of
// sqlite/00001_init.sql; TestSchemaParity applies both folders and fails
// when the schemas differ beyond its type mapping and its list of known
// differences, each with its reason (parity_test.go).
//
// SQLite files used to be numbered on their own (1 to 6 for Postgres's 1
// to 8); persistence/sqlite converts the version table of a database file
// made before, once, when it migrates it.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Postgres holds the Postgres migrations, named NNNNN_description.sql.
var Postgres = sub("postgres")

// SQLite holds the SQLite migrations, named as their Postgres twins.
var SQLite = sub("sqlite")

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // dir is a constant naming an embedded folder
	}
	return f
}
