package bus

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/actors"
)

func TestInSubjectOrder(t *testing.T) {
	t.Parallel()
	msg := func(subject, id string) actors.OutboxMessage { return actors.OutboxMessage{ID: id, Subject: subject} }
	for _, tc := range []struct {
		name    string
		in, out []actors.OutboxMessage
	}{
		{
			name: "a subject's events keep its positions, in seq order",
			in:   []actors.OutboxMessage{msg("a", "a:10"), msg("b", "b:3"), msg("a", "a:9"), msg("a", "a:11")},
			out:  []actors.OutboxMessage{msg("a", "a:9"), msg("b", "b:3"), msg("a", "a:10"), msg("a", "a:11")},
		},
		{
			name: "ids without a seq keep the store's order",
			in:   []actors.OutboxMessage{msg("x", "x:2"), msg("x", "x-one")},
			out:  []actors.OutboxMessage{msg("x", "x:2"), msg("x", "x-one")},
		},
		{
			name: "already ordered",
			in:   []actors.OutboxMessage{msg("a", "a:1"), msg("a", "a:2"), msg("b", "b:1")},
			out:  []actors.OutboxMessage{msg("a", "a:1"), msg("a", "a:2"), msg("b", "b:1")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inSubjectOrder(tc.in)
			require.Equal(t, tc.out, tc.in)
		})
	}
}
