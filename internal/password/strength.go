package password

import (
	"strings"
	"unicode"

	"github.com/trustelem/zxcvbn"
)

// MinScore is the zxcvbn score (0–4) a new password must reach: 3,
// "safely unguessable" — an estimated 10^8 guesses or more, beyond what
// an online attacker gets through the login throttle, and more than
// common passwords, keyboard walks, dates, repeats and dictionary words
// with a digit or two ever score.
const MinScore = 3

// scoredRunes bounds the part of a password the estimator reads: its
// matching grows faster than linearly with length, and a password this
// long is not weak for what follows.
const scoredRunes = 64

// Weak says why pw is too weak to be a new password, or "" when it is
// strong enough. userInputs are the account's own details (name, e-mail):
// a password built from them is guessed first. Length limits are the
// caller's (the API takes 8 to 256 bytes).
func Weak(pw string, userInputs ...string) string {
	if strings.TrimFunc(pw, unicode.IsSpace) == "" {
		return "must not be only spaces"
	}
	r := []rune(pw)
	if len(r) > scoredRunes {
		r = r[:scoredRunes]
	}
	var inputs []string
	for _, in := range userInputs {
		in = strings.ToLower(strings.TrimSpace(in))
		if in == "" {
			continue
		}
		inputs = append(inputs, in)
		if local, _, ok := strings.Cut(in, "@"); ok && local != "" {
			inputs = append(inputs, local)
		}
		inputs = append(inputs, strings.Fields(in)...)
	}
	if zxcvbn.PasswordStrength(string(r), inputs).Score < MinScore {
		return "is too easy to guess (a common password, a pattern, or words from your name or e-mail); use a longer passphrase"
	}
	return ""
}
