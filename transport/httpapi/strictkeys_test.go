package httpapi

import (
	"errors"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/problem"
)

func TestCheckKeys(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeOf(&createOrderRequest{})
	cases := []struct {
		name, body string
		code       problem.Code // 0: accepted
		field      string
	}{
		{"exact keys", `{"pickup":{"address":"a","lat":1,"lng":2},"dropoff":{"address":"b"},"delivery_option":"standard","notes":"x"}`, 0, ""},
		{"case-folded top level", `{"Notes":"x"}`, problem.UnknownField, "Notes"},
		{"case-folded nested", `{"pickup":{"Address":"a"}}`, problem.UnknownField, "pickup.Address"},
		{"duplicate key", `{"notes":"a","notes":"b"}`, problem.ValidationFailed, "notes"},
		{"duplicate nested key", `{"pickup":{"address":"a","address":"b"}}`, problem.ValidationFailed, "pickup.address"},
		{"null nested", `{"pickup":null}`, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkKeys([]byte(tc.body), typ)
			if tc.code == 0 {
				require.NoError(t, err)
				return
			}
			var e *Error
			require.True(t, errors.As(err, &e), "%v", err)
			require.Equal(t, tc.code, e.Code)
			require.Equal(t, tc.field, e.Fields[0].Field)
		})
	}
}

func FuzzCheckKeys(f *testing.F) {
	for _, s := range []string{`{}`, `{"pickup":{"address":"a"}}`, `{"a":[1,{"b":2}]}`, `{"notes":"a","notes":"b"}`, `[`, `{"x":`} {
		f.Add(s)
	}
	typ := reflect.TypeOf(&createOrderRequest{})
	f.Fuzz(func(t *testing.T, body string) {
		// It must never panic, whatever the body.
		_ = checkKeys([]byte(body), typ)
	})
}
