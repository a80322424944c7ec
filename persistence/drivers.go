package persistence

import (
	"fmt"
	"slices"

	"github.com/outrider/outrider/actors/driver"
)

// ListDriversPaged is ListDrivers for a backend that reads drivers a page
// at a time: page returns at most n drivers with an id after after,
// ascending, each with Status set by driver.Status. It keeps the drivers
// of f.Status (all for "") and returns at most limit of them and whether
// more follow; an unknown status is an error.
//
// The status filter runs here, in Go, rather than as a SQL condition:
// driver.Status is the rule's only copy, and no transaction guards on it.
// A page holds limit+1 rows, so an unfiltered list costs one query, as
// before; a filtered one reads on until limit+1 drivers match or the
// table ends.
func ListDriversPaged(f DriverFilter, limit int, page func(after string, n int) ([]Driver, error)) ([]Driver, bool, error) {
	if f.Status != "" && !slices.Contains(driver.Statuses, f.Status) {
		return nil, false, fmt.Errorf("list drivers: unknown status %q", f.Status)
	}
	out := []Driver{}
	after := f.After
	for {
		ds, err := page(after, limit+1)
		if err != nil {
			return nil, false, err
		}
		for _, d := range ds {
			if f.Status == "" || d.Status == f.Status {
				out = append(out, d)
			}
		}
		if len(out) > limit {
			return out[:limit], true, nil
		}
		if len(ds) < limit+1 {
			return out, false, nil
		}
		after = ds[len(ds)-1].ID
	}
}
