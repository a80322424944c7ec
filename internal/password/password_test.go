package password_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/outrider/outrider/internal/password"
)

// stored was made by the API's hashing before this package existed
// (httpapi.HashPassword, cost 4): accounts already in a database must keep
// logging in.
const stored = "$2a$04$WDreO3q7tk6zj.R5f45Izu5pXW2rrflacO.cqh04D6H6NMMW7ZRwa"

func TestMatches(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100)
	longHash, err := password.Hash(long, bcrypt.MinCost)
	require.NoError(t, err)
	tests := []struct {
		name, hash, password string
		want                 bool
	}{
		{name: "hash stored before", hash: stored, password: "correct horse battery staple", want: true},
		{name: "wrong password", hash: stored, password: "correct horse battery stapler"},
		{name: "empty password", hash: stored, password: ""},
		// bcrypt alone would ignore everything after byte 72.
		{name: "long password in full", hash: longHash, password: long, want: true},
		{name: "long password differing after byte 72", hash: longHash, password: long[:99] + "y"},
		{name: "empty hash", hash: "", password: "anything"},
		{name: "malformed hash", hash: "$2a$04$short", password: "anything"},
		{name: "plain bcrypt of the password is not the stored form", hash: plain(t, "secret12"), password: "secret12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, password.Matches(tt.hash, tt.password))
		})
	}
}

func TestHashCost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cost     int
		wantCost int
		wantErr  bool
	}{
		{name: "given cost", cost: bcrypt.MinCost, wantCost: bcrypt.MinCost},
		{name: "zero means the default", cost: 0, wantCost: password.DefaultCost},
		{name: "negative means the default", cost: -1, wantCost: password.DefaultCost},
		{name: "below bcrypt's minimum, bcrypt's default", cost: bcrypt.MinCost - 1, wantCost: bcrypt.DefaultCost},
		{name: "above bcrypt's maximum", cost: bcrypt.MaxCost + 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := password.Hash("secret12", tt.cost)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			cost, err := bcrypt.Cost([]byte(h))
			require.NoError(t, err)
			require.Equal(t, tt.wantCost, cost)
			require.True(t, password.Matches(h, "secret12"))
		})
	}
}

func TestHashIsSalted(t *testing.T) {
	t.Parallel()
	a, err := password.Hash("secret12", bcrypt.MinCost)
	require.NoError(t, err)
	b, err := password.Hash("secret12", bcrypt.MinCost)
	require.NoError(t, err)
	require.NotEqual(t, a, b)
}

func plain(t *testing.T, pw string) string {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	require.NoError(t, err)
	return string(b)
}
