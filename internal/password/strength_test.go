package password_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outrider/outrider/internal/password"
)

// TestWeak (issue #14, finding 4): the probe's passwords, common ones,
// patterns and ones made of the user's own details are weak; passphrases
// and random strings are not.
func TestWeak(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pw     string
		inputs []string
		weak   bool
	}{
		{"        ", nil, true},
		{"\t\t\t\t\t\t\t\t", nil, true},
		{"12345678", nil, true},
		{"password", nil, true},
		{"password-1", nil, true},
		{"qwertyuiop", nil, true},
		{"letmein123", nil, true},
		{"iloveyou!", nil, true},
		{"11111111", nil, true},
		{"abcdefgh", nil, true},
		{"19871987", nil, true},
		{"marianne.koch1", []string{"Marianne Koch", "marianne.koch@example.test"}, true},
		{"grape-lantern-42", nil, false},
		{"correct horse battery", nil, false},
		{"Tr0ub4dor&3", nil, false},
		{"k9#Vq2!mZ", nil, false},
		{strings.Repeat("long but varied passphrase ", 10), nil, false},
	} {
		got := password.Weak(tc.pw, tc.inputs...)
		if tc.weak {
			require.NotEmpty(t, got, "%q must be weak", tc.pw)
		} else {
			require.Empty(t, got, "%q must be strong enough", tc.pw)
		}
	}
}
