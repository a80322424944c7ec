package wstest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/order"
)

// JournalReader reads an entity's journal (persistence.Backend does).
type JournalReader interface {
	JournalEvents(ctx context.Context, kind, id string, after int64) ([]actors.Event, error)
}

// Journal is an order's events as published, from its journal: element
// i has seq i+1 (order.PublishedAfter refuses a journal with a gap).
func Journal(ctx context.Context, store JournalReader, orderID string) ([]order.Published, error) {
	events, err := store.JournalEvents(ctx, actors.KindOrder, orderID, 0)
	if err != nil {
		return nil, fmt.Errorf("journal of %s: %w", orderID, err)
	}
	return order.PublishedAfter(events, 0)
}

// WaitCaughtUp polls until every open stream of the watchers has received
// its order's latest seq (latest by order id), or d passes; it returns the
// streams still behind.
func WaitCaughtUp(d time.Duration, latest map[string]int64, watchers ...*Watcher) []string {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var behind []string
		for i, w := range watchers {
			for _, s := range w.Streams() {
				if !s.Ended && s.Last() < latest[s.OrderID] {
					behind = append(behind, fmt.Sprintf("watcher %d %s at %d of %d", i, s.Channel, s.Last(), latest[s.OrderID]))
				}
			}
		}
		if len(behind) == 0 || time.Now().After(deadline) {
			return behind
		}
		<-tick.C
	}
}

// Check holds every stream of the watchers to I4 against the journals
// (by order id; see Journal), after the commits have stopped and
// WaitCaughtUp: seqs since+1, since+2, … (after Floor for since nil)
// each once and in order, each frame the journal's event of that seq,
// and an open stream up to the last seq. It returns how many events the
// streams held.
func Check(t require.TestingT, journals map[string][]order.Published, watchers ...*Watcher) int {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	total := 0
	for i, w := range watchers {
		require.Empty(t, w.Problems(), "watcher %d", i)
		for j, s := range w.Streams() {
			journal, ok := journals[s.OrderID]
			require.True(t, ok, "no journal for %s", s.OrderID)
			name := fmt.Sprintf("watcher %d stream %d (%s, since %s, floor %d, ended %v: %s)",
				i, j, s.Channel, sinceText(s.Since), s.Floor, s.Ended, s.Reason)
			next := s.Floor + 1
			if s.Since != nil {
				next = *s.Since + 1
			} else if len(s.Events) > 0 {
				require.Greater(t, s.Events[0].Seq, s.Floor, "%s: started at or before its floor", name)
				next = s.Events[0].Seq
			}
			for _, ev := range s.Events {
				require.Equal(t, next, ev.Seq, "%s: seqs %v", name, seqsOf(s.Events))
				require.LessOrEqual(t, ev.Seq, int64(len(journal)), "%s: seq beyond the journal", name)
				p := journal[ev.Seq-1]
				require.Equal(t, p.Type, ev.Event, "%s seq %d", name, ev.Seq)
				require.Equal(t, p.At, ev.At, "%s seq %d", name, ev.Seq)
				want, err := json.Marshal(struct {
					Order any               `json:"order"`
					By    order.PublishedBy `json:"by"`
				}{p.Order, p.By})
				require.NoError(t, err)
				require.JSONEq(t, string(want), string(ev.Data), "%s seq %d", name, ev.Seq)
				next++
			}
			if !s.Ended {
				require.Equal(t, int64(len(journal)), s.Last(), "%s: an open stream must reach the last seq", name)
			}
			total += len(s.Events)
		}
	}
	return total
}

func sinceText(s *int64) string {
	if s == nil {
		return "none"
	}
	return fmt.Sprint(*s)
}

func seqsOf(evs []Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}
