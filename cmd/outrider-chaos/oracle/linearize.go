package oracle

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// model is the per-order sequential specification porcupine checks each
// order's history against. Input is *Op (the whole operation, answer
// included); output is unused. Nondeterminism covers what the client
// cannot know: an operation without a definite answer may or may not have
// taken effect, and an assign of a pending order may be refused
// driver_unavailable (the driver's load is another order's business).
var model = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range h {
			id := o.Input.(*Op).Order
			if _, ok := by[id]; !ok {
				keys = append(keys, id)
			}
			by[id] = append(by[id], o)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() []interface{} { return []interface{}{State{}} },
	Step: func(state, input, _ interface{}) []interface{} {
		return step(state.(State), input.(*Op))
	},
	DescribeOperation: func(input, _ interface{}) string {
		return describe(input.(*Op))
	},
	DescribeState: func(state interface{}) string {
		s := state.(State)
		if !s.Exists {
			return "none"
		}
		return fmt.Sprintf("v%d %s %s", s.Version, s.Status, short(s.Driver))
	},
}

// step returns the states s can move to by op, none if op's answer is
// impossible in s.
func step(s State, op *Op) []interface{} {
	if op.Kind == Read {
		switch {
		case !op.Definite():
			return []interface{}{s}
		case op.Acked() && s.Exists && *op.Result == s.View():
			return []interface{}{s}
		case op.HTTP == 404 && !s.Exists:
			return []interface{}{s}
		}
		return nil
	}
	code, next := Decide(s, op)
	switch {
	case !op.Definite():
		if code == "" {
			return []interface{}{s, next}
		}
		return []interface{}{s}
	case op.Acked():
		if code == "" && op.Result != nil && *op.Result == next.View() {
			return []interface{}{next}
		}
		return nil
	default: // a refusal
		if op.Code == code || (op.Kind == Assign && code == "" && op.Code == "driver_unavailable") {
			return []interface{}{s}
		}
		return nil
	}
}

// Linearizability is the outcome of the porcupine check.
type Linearizability struct {
	Orders  int      `json:"orders"`
	Ops     int      `json:"ops"`
	Result  string   `json:"result"`            // Ok, Illegal or Unknown (timed out)
	Illegal []string `json:"illegal,omitempty"` // orders whose history is not linearizable
	Unknown []string `json:"unknown,omitempty"` // orders the checker gave up on
	// Visualizations are HTML files of the illegal histories.
	Visualizations []string `json:"visualizations,omitempty"`
}

// maxVisualizations bounds the HTML files written for illegal histories.
const maxVisualizations = 20

// CheckLinearizable checks every order's history, each within timeout. With
// dir set it writes porcupine's visualization of the first
// maxVisualizations illegal histories there.
func CheckLinearizable(ops []*Op, timeout time.Duration, dir string) Linearizability {
	m := model.ToModel()
	by := map[string][]porcupine.Operation{}
	for _, op := range ops {
		if op.Order == "" {
			continue
		}
		by[op.Order] = append(by[op.Order], porcupine.Operation{
			ClientId: op.Client, Input: op, Call: op.Invoke, Return: op.end(),
		})
	}
	res := Linearizability{Orders: len(by), Result: string(porcupine.Ok)}
	ids := make([]string, 0, len(by))
	for id := range by {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		h := by[id]
		res.Ops += len(h)
		r, info := porcupine.CheckOperationsVerbose(m, h, timeout)
		switch r {
		case porcupine.Illegal:
			res.Illegal = append(res.Illegal, id)
			res.Result = string(porcupine.Illegal)
			if dir != "" && len(res.Visualizations) < maxVisualizations {
				p := filepath.Join(dir, "linearizability-"+id+".html")
				if err := os.MkdirAll(dir, 0o755); err == nil && porcupine.VisualizePath(m, info, p) == nil {
					res.Visualizations = append(res.Visualizations, p)
				}
			}
		case porcupine.Unknown:
			res.Unknown = append(res.Unknown, id)
			if res.Result == string(porcupine.Ok) {
				res.Result = string(porcupine.Unknown)
			}
		}
	}
	return res
}

func describe(op *Op) string {
	var what string
	switch op.Kind {
	case Create:
		what = "create"
	case Assign:
		what = "assign " + short(op.Driver)
	case Status:
		what = op.Role + " → " + op.To
	case Read:
		what = "read"
	default:
		what = string(op.Kind) + " by " + op.Role + " " + short(op.By)
	}
	var ans string
	switch {
	case op.Acked() && op.Result != nil:
		ans = fmt.Sprintf("%d v%d %s %s", op.HTTP, op.Result.Version, op.Result.Status, short(op.Result.Driver))
	case op.Definite():
		ans = fmt.Sprintf("%d %s", op.HTTP, op.Code)
	default:
		ans = fmt.Sprintf("unknown (%d %s %s)", op.HTTP, op.Code, op.Err)
	}
	return what + " → " + ans
}

// short shortens a prefixed ULID id for display.
func short(id string) string {
	if len(id) > 10 {
		return id[:4] + "…" + id[len(id)-4:]
	}
	return id
}
