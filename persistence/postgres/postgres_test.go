package postgres_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/persistence"
	"github.com/outrider/outrider/persistence/postgres"
	"github.com/outrider/outrider/persistence/postgres/pgtest"
	"github.com/outrider/outrider/persistence/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) persistence.Backend { return pgtest.Open(t) })
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	s := pgtest.Open(t) // migrated once already
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, s.Ping(t.Context()))
}

func TestPingFailsWithoutServer(t *testing.T) {
	t.Parallel()
	s, err := postgres.Open(t.Context(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", postgres.Options{})
	require.NoError(t, err)
	defer s.Close()
	require.Error(t, s.Ping(t.Context()))
}

// BenchmarkCommitOrder measures the commit of a newly created order:
// one journal entry, the order row, a timeline line and an outbox message.
func BenchmarkCommitOrder(b *testing.B) {
	s := pgtest.Open(b)
	var n atomic.Int64
	at := time.Now().UTC().Truncate(time.Microsecond)
	lat, lng := 52.52, 13.41
	// Many actors commit at once in production; 8 goroutines per core
	// keep the pool's connections busy, so Postgres can group commits.
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("o%012d", n.Add(1))
			row := actors.OrderRow{ID: id, CustomerID: "c1",
				Pickup:  actors.Place{Address: "Alexanderplatz 1", Lat: &lat, Lng: &lng},
				Dropoff: actors.Place{Address: "Unter den Linden 5"}, DeliveryOption: "standard",
				PaymentStatus: "unpaid", Status: "pending", Version: 1, CreatedAt: at, UpdatedAt: at}
			payload, _ := json.Marshal(row)
			err := s.Commit(b.Context(), actors.Commit{
				Events: []actors.Event{{Kind: actors.KindOrder, EntityID: id, Seq: 1, Type: "order.created",
					Payload: make([]byte, 160), CommandID: "cmd-" + id, At: at}},
				Orders: []actors.OrderRow{row},
				Timeline: []actors.TimelineEntry{{OrderID: id, Seq: 1, Status: "pending", ByUserID: "c1",
					ByRole: actors.RoleCustomer, Metadata: map[string]string{"event": "order.created"}, At: at}},
				Outbox: []actors.OutboxMessage{{ID: "order:" + id + ":1", Subject: "outrider.order." + id,
					Payload: payload, At: at}},
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "commits/s")
}
