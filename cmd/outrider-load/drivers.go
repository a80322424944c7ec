package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Load drivers are real accounts (so driver actors exist and accept
// fixes), created once through the admin API and reused by every run.
const (
	driverEmailPrefix = "load-driver-"
	driverEmailDomain = "@load.outrider"
	driverCapacity    = 20 // the maximum: leftovers of an aborted run never exhaust a driver
)

type driverJSON struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Available bool   `json:"available"`
	Capacity  int    `json:"capacity"`
}

// listLoadDrivers pages through GET /v1/drivers and keeps the load drivers.
func (a *api) listLoadDrivers(ctx context.Context, admin string) ([]driverJSON, error) {
	var out []driverJSON
	cursor := ""
	for page := 0; page < 1000; page++ { // 200,000 drivers at most
		path := "/v1/drivers?limit=200"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var p struct {
			Items      []driverJSON `json:"items"`
			NextCursor *string      `json:"next_cursor"`
		}
		if err := a.call(ctx, http.MethodGet, path, admin, nil, &p); err != nil {
			return nil, fmt.Errorf("list drivers: %w", err)
		}
		for _, d := range p.Items {
			if strings.HasPrefix(d.Email, driverEmailPrefix) && strings.HasSuffix(d.Email, driverEmailDomain) {
				out = append(out, d)
			}
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out, nil
}

// ensureDrivers makes sure n load drivers exist and are available, and
// returns the ids of the first n. Creation hashes a password per driver:
// run the node with OUTRIDER_BCRYPT_COST=4 to keep it quick.
//
// The ids are cached in cache (a file beside the node's data): listing
// drivers asks every driver's user actor whether it is online, which
// wakes them all, and a memory measurement must not start with them
// awake. Delete the file when the node's data is reset. An empty cache
// path lists and checks the drivers every time.
func ensureDrivers(ctx context.Context, a *api, admin string, m *minter, n int, cache string) ([]string, error) {
	if cache == "" {
		return createDrivers(ctx, a, admin, m, n)
	}
	if ids, err := cachedDrivers(cache, n); err == nil {
		return ids, nil
	}
	ids, err := createDrivers(ctx, a, admin, m, n)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(ids)
	if err := os.WriteFile(cache, b, 0o600); err != nil {
		logf("could not cache the load drivers' ids: %v", err)
	}
	return ids, nil
}

// cachedDrivers reads the first n load drivers' ids that ensureDrivers
// cached.
func cachedDrivers(cache string, n int) ([]string, error) {
	b, err := os.ReadFile(cache)
	if err != nil {
		return nil, fmt.Errorf("the load drivers' ids: %w", err)
	}
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		return nil, fmt.Errorf("the load drivers' ids in %s: %w", cache, err)
	}
	if len(ids) < n {
		return nil, fmt.Errorf("%s holds %d load drivers, want %d", cache, len(ids), n)
	}
	return ids[:n], nil
}

func createDrivers(ctx context.Context, a *api, admin string, m *minter, n int) ([]string, error) {
	have, err := a.listLoadDrivers(ctx, admin)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, d := range have {
		known[d.Email] = true
	}
	var missing []string
	for i := 0; i < n; i++ {
		if e := driverEmail(i); !known[e] {
			missing = append(missing, e)
		}
	}
	if len(missing) > 0 {
		logf("creating %d load drivers", len(missing))
		if err := parallel(ctx, len(missing), 16, func(ctx context.Context, i int) error {
			capacity := driverCapacity
			body := map[string]any{"name": "Load Driver", "email": missing[i], "password": "load-driver-password",
				"role": "driver", "capacity": capacity}
			return a.call(ctx, http.MethodPost, "/v1/users", admin, body, nil)
		}); err != nil {
			return nil, fmt.Errorf("create drivers: %w", err)
		}
		if have, err = a.listLoadDrivers(ctx, admin); err != nil {
			return nil, err
		}
	}
	if len(have) < n {
		return nil, fmt.Errorf("only %d load drivers after creation, want %d", len(have), n)
	}
	have = have[:n]
	var idle []string
	for _, d := range have {
		if !d.Available {
			idle = append(idle, d.ID)
		}
	}
	if len(idle) > 0 {
		logf("making %d load drivers available", len(idle))
		if err := parallel(ctx, len(idle), 16, func(ctx context.Context, i int) error {
			return a.call(ctx, http.MethodPut, "/v1/drivers/me/availability", m.token(idle[i], "driver"),
				map[string]bool{"available": true}, nil)
		}); err != nil {
			return nil, fmt.Errorf("set availability: %w", err)
		}
	}
	ids := make([]string, n)
	for i, d := range have {
		ids[i] = d.ID
	}
	return ids, nil
}

// driverCache is where ensureDrivers keeps the load drivers' ids.
func (t *target) driverCache() string { return filepath.Join(t.dataDir, "load-drivers.json") }

func driverEmail(i int) string {
	return fmt.Sprintf("%s%05d%s", driverEmailPrefix, i, driverEmailDomain)
}

// parallel runs fn(0..n-1) on `workers` goroutines and returns the first
// error (the rest are cancelled).
func parallel(ctx context.Context, n, workers int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		return ctx.Err()
	}
	return first
}
