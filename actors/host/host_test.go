package host_test

// Invariant I5 at the actor level: two activations of one order (what a
// split brain or a slow hand-over produces) share one journal, and the
// journal's unique (kind, entity_id, seq) key decides which of them writes.
// These tests run the real actor adapter on a plain actor system (no
// cluster, no remote), so they may run in parallel with each other.

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/outrider/outrider/actors"
	"github.com/outrider/outrider/actors/host"
	"github.com/outrider/outrider/actors/order"
	"github.com/outrider/outrider/persistence/postgres"
	"github.com/outrider/outrider/persistence/postgres/pgtest"
	pb "github.com/outrider/outrider/proto/outriderpb"
)

// askTimeout bounds one request to an activation. Generous: under -race on
// a busy machine a commit can take a while, and a timeout here would be
// reported as a test failure, not retried.
const askTimeout = 15 * time.Second

var admin = &pb.Principal{UserId: "usr_admin", Role: actors.RoleAdmin}

type bundle struct {
	store  *postgres.Store
	host   *host.Host
	system *actor.ActorSystem
}

func setup(t *testing.T) *bundle { return setupIdle(t, 0) }

// setupIdle is setup with the host's IdleTimeout (0: the default).
func setupIdle(t *testing.T, idle time.Duration) *bundle {
	t.Helper()
	store := pgtest.Open(t)
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("OUTRIDER_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
	t.Cleanup(system.Shutdown)
	return &bundle{store: store, host: host.New(host.Config{Store: store, Logger: log, IdleTimeout: idle}), system: system}
}

// spawn starts a new activation of (kind, id), independent of any other
// activation of the same identity: exactly what a second cluster member
// would run after a placement disagreement.
func (b *bundle) spawn(kind, id string) *actor.PID {
	var props *actor.Props
	switch kind {
	case actors.KindOrder:
		props = b.host.OrderProps()
	case actors.KindDriver:
		props = b.host.DriverProps()
	case actors.KindUser:
		props = b.host.UserProps()
	case actors.KindZone:
		props = b.host.ZoneProps()
	}
	// As the cluster's placement actor does: the identity is the first
	// message.
	pid := b.system.Root.Spawn(props)
	b.system.Root.Send(pid, &pcluster.ClusterInit{Identity: pcluster.NewClusterIdentity(id, kind)})
	return pid
}

// ask sends msg to pid and waits for the reply.
func (b *bundle) ask(pid *actor.PID, msg proto.Message) (any, error) {
	return b.system.Root.RequestFuture(pid, msg, askTimeout).Result()
}

func (b *bundle) order(t *testing.T, pid *actor.PID, cmd *pb.OrderCommand) *pb.OrderReply {
	t.Helper()
	r, err := b.ask(pid, cmd)
	require.NoError(t, err)
	reply, ok := r.(*pb.OrderReply)
	require.True(t, ok, "reply %T", r)
	return reply
}

// watch returns a channel closed when pid terminates.
func (b *bundle) watch(pid *actor.PID) <-chan struct{} {
	done := make(chan struct{})
	b.system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			c.Watch(pid)
		case *actor.Terminated:
			if m.Who.Equal(pid) {
				close(done)
				c.Stop(c.Self())
			}
		}
	}))
	return done
}

func requireStops(t *testing.T, stopped <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		require.FailNow(t, what+" did not stop")
	}
}

func newID(prefix string) string { return prefix + "_" + ulid.Make().String() }

func cmd(by *pb.Principal) *pb.OrderCommand {
	return &pb.OrderCommand{CommandId: ulid.Make().String(), By: by, AtMs: time.Now().UnixMilli()}
}

func createCmd() *pb.OrderCommand {
	c := cmd(admin)
	c.Body = &pb.OrderCommand_Create{Create: &pb.CreateOrder{
		CustomerId: "usr_customer", DeliveryOption: order.Standard,
		Pickup: &pb.Place{Address: "1 Pickup Rd"}, Dropoff: &pb.Place{Address: "2 Dropoff St"},
	}}
	return c
}

func assignCmd(driverID string) *pb.OrderCommand {
	c := cmd(admin)
	c.Body = &pb.OrderCommand_Assign{Assign: &pb.AssignDriver{DriverId: driverID, OfferExpiresAtMs: c.AtMs + time.Minute.Milliseconds()}}
	return c
}

func declineCmd(driverID string) *pb.OrderCommand {
	c := cmd(&pb.Principal{UserId: driverID, Role: actors.RoleDriver})
	c.Body = &pb.OrderCommand_Decline{Decline: &pb.DeclineOrder{Reason: "busy"}}
	return c
}

func getCmd() *pb.OrderCommand {
	c := cmd(admin)
	c.Body = &pb.OrderCommand_Get{Get: &pb.GetOrder{}}
	return c
}

// seedDriver creates an available driver of the given capacity through
// the user and driver actors, as the API does.
func (b *bundle) seedDriver(t *testing.T, capacity int32) string {
	t.Helper()
	id := newID("usr")
	system := &pb.Principal{UserId: "system", Role: actors.RoleSystem}
	r, err := b.ask(b.spawn(actors.KindUser, id), &pb.UserCommand{
		CommandId: ulid.Make().String(), By: system, AtMs: time.Now().UnixMilli(),
		Body: &pb.UserCommand_Create{Create: &pb.CreateUser{
			Email: fmt.Sprintf("%s@outrider.test", id), Name: "Driver " + id, Role: actors.RoleDriver,
			PasswordHash: "x", DriverCapacity: capacity,
		}},
	})
	require.NoError(t, err)
	require.Nil(t, r.(*pb.UserReply).GetRejection())
	r, err = b.ask(b.spawn(actors.KindDriver, id), &pb.DriverCommand{
		CommandId: ulid.Make().String(), By: system, AtMs: time.Now().UnixMilli(),
		Body: &pb.DriverCommand_SetAvailability{SetAvailability: &pb.SetAvailability{Available: true}},
	})
	require.NoError(t, err)
	require.Nil(t, r.(*pb.DriverReply).GetRejection())
	return id
}

type journalRow struct {
	Seq       int64
	Type      string
	CommandID string
}

// journal reads an order's whole journal straight from the table (Load
// starts after the newest snapshot).
func (b *bundle) journal(t *testing.T, id string) []journalRow {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := b.store.Pool().Query(ctx,
		`SELECT seq, type, command_id FROM journal WHERE kind = $1 AND entity_id = $2 ORDER BY seq`,
		actors.KindOrder, id)
	require.NoError(t, err)
	defer rows.Close()
	var out []journalRow
	for rows.Next() {
		var r journalRow
		require.NoError(t, rows.Scan(&r.Seq, &r.Type, &r.CommandID))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// requireGapFree checks the journal is exactly seq 1..len, each command id
// at most once (a command is never applied twice), and returns the command
// ids by seq.
func requireGapFree(t *testing.T, j []journalRow) map[int64]string {
	t.Helper()
	bySeq := make(map[int64]string, len(j))
	seen := map[string]int64{}
	for i, r := range j {
		require.Equal(t, int64(i+1), r.Seq, "journal has a gap or duplicate at position %d: %+v", i, j)
		if prev, dup := seen[r.CommandID]; dup {
			require.Failf(t, "command applied twice", "command %s at seq %d and %d", r.CommandID, prev, r.Seq)
		}
		seen[r.CommandID] = r.Seq
		bySeq[r.Seq] = r.CommandID
	}
	return bySeq
}

func (b *bundle) activeOrders(t *testing.T, driverID string) int {
	t.Helper()
	d, err := b.store.GetDriver(context.Background(), driverID)
	require.NoError(t, err)
	return d.ActiveOrders
}

// TestActivationSeesItsClusterIdentity guards the harness: an activation
// spawned with WithClusterIdentity outside a cluster must act on that id
// (the order row and journal carry it), or every other test here would
// write under the wrong key.
func TestActivationSeesItsClusterIdentity(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := newID("ord")
	reply := b.order(t, b.spawn(actors.KindOrder, id), createCmd())
	require.Nil(t, reply.GetRejection())
	require.Equal(t, id, reply.GetOrder().GetId())
	row, err := b.store.GetOrder(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, int64(1), row.Version)
	require.Len(t, b.journal(t, id), 1)
}

// An activation passivates once idle for IdleTimeout, and not while it
// keeps receiving commands.
func TestIdleActivationPassivates(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	b := setupIdle(t, idle)
	id := newID("ord")
	pid := b.spawn(actors.KindOrder, id)
	stopped := b.watch(pid)
	require.Nil(t, b.order(t, pid, createCmd()).GetRejection())
	tick := time.NewTicker(idle / 3)
	defer tick.Stop()
	for i := 0; i < 6; i++ { // 2 timeouts of activity
		<-tick.C
		require.Equal(t, id, b.order(t, pid, getCmd()).GetOrder().GetId(), "busy activation %d", i)
	}
	select {
	case <-stopped:
		require.FailNow(t, "a busy activation passivated")
	default:
	}
	requireStops(t, stopped, "the idle activation")
}

// TestStaleActivationIsFencedAndStops is the I5 scenario step by step: A
// and B both hold version 1; A assigns driver 1; B, now stale, assigns
// driver 2. B's commit hits the journal key, B answers "retry" and stops,
// and nothing of B's attempt survives (journal, order row, driver 2's
// reservation).
func TestStaleActivationIsFencedAndStops(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d1, d2 := b.seedDriver(t, 1), b.seedDriver(t, 1)
	id := newID("ord")

	a := b.spawn(actors.KindOrder, id)
	created := createCmd()
	require.Nil(t, b.order(t, a, created).GetRejection())

	stale := b.spawn(actors.KindOrder, id)
	loaded := b.order(t, stale, getCmd())
	require.Nil(t, loaded.GetRejection())
	require.Equal(t, int64(1), loaded.GetOrder().GetVersion(), "B loaded the order")
	staleStopped := b.watch(stale)

	win := assignCmd(d1)
	won := b.order(t, a, win)
	require.Nil(t, won.GetRejection())
	require.Equal(t, int64(2), won.GetOrder().GetVersion())

	lost := b.order(t, stale, assignCmd(d2))
	require.Equal(t, actors.CodeRetry, lost.GetRejection().GetCode(), "stale activation must ask for a retry")
	requireStops(t, staleStopped, "stale activation")
	_, err := b.ask(stale, getCmd())
	require.ErrorIs(t, err, actor.ErrDeadLetter, "a stopped activation takes no more commands")

	j := b.journal(t, id)
	require.Equal(t, []journalRow{
		{Seq: 1, Type: "order.created", CommandID: created.CommandId},
		{Seq: 2, Type: "order.assigned", CommandID: win.CommandId},
	}, j)
	row, err := b.store.GetOrder(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, d1, row.DriverID)
	require.Equal(t, order.Assigned, row.Status)
	require.Equal(t, int64(2), row.Version)
	require.Equal(t, 1, b.activeOrders(t, d1))
	require.Equal(t, 0, b.activeOrders(t, d2), "the stale commit's reservation was rolled back with it")

	// A is still the rightful writer, and a fresh activation sees A's history.
	require.Nil(t, b.order(t, a, getCmd()).GetRejection())
	fresh := b.order(t, b.spawn(actors.KindOrder, id), getCmd())
	require.Equal(t, int64(2), fresh.GetOrder().GetVersion())
	require.Equal(t, d1, fresh.GetOrder().GetDriverId())
}

// TestConcurrentActivationsNeverForkTheJournal hammers one order from two
// activations at once, many rounds. Each slot sends assign/decline
// commands (chosen from what it last saw, sometimes at random) and, when
// its activation answers "retry", checks that activation stops and spawns
// a fresh one, as the cluster's retry would. Per round: the journal is
// gap-free 1..k with every command at most once; the successful write
// replies are exactly the journal's events after creation; the order row
// and driver reservations agree with the journal.
func TestConcurrentActivationsNeverForkTheJournal(t *testing.T) {
	t.Parallel()
	const (
		rounds   = 25
		slots    = 2
		commands = 12 // per slot per round
	)
	b := setup(t)
	totalRetries := 0
	for round := range rounds {
		d := []string{b.seedDriver(t, 1), b.seedDriver(t, 1)}
		id := newID("ord")
		require.Nil(t, b.order(t, b.spawn(actors.KindOrder, id), createCmd()).GetRejection())

		type outcome struct {
			cmdID   string
			code    string
			version int64
		}
		var (
			mu       sync.Mutex
			outcomes []outcome
			failures []string
			retries  int
		)
		fail := func(format string, args ...any) {
			mu.Lock()
			failures = append(failures, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
		pids := make([]*actor.PID, slots)
		for s := range pids {
			pids[s] = b.spawn(actors.KindOrder, id)
			if r := b.order(t, pids[s], getCmd()); r.GetOrder().GetVersion() != 1 {
				t.Fatalf("round %d slot %d loaded version %d", round, s, r.GetOrder().GetVersion())
			}
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for s := range slots {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(round), uint64(s)))
				pid := pids[s]
				stopped := b.watch(pid)
				seen := &pb.OrderState{Status: order.Pending}
				<-start
				for i := range commands {
					var c *pb.OrderCommand
					switch {
					case i == 0:
						// Both slots write at once from version 1: one
						// of them must lose on the journal key.
						c = assignCmd(d[s%2])
					case rng.IntN(4) == 0:
						if rng.IntN(2) == 0 {
							c = assignCmd(d[rng.IntN(2)])
						} else {
							c = declineCmd(d[rng.IntN(2)])
						}
					case seen.Status == order.Assigned:
						c = declineCmd(seen.DriverId)
					default:
						c = assignCmd(d[rng.IntN(2)])
					}
					r, err := b.ask(pid, c)
					if err != nil {
						fail("slot %d command %d: %v", s, i, err)
						return
					}
					reply := r.(*pb.OrderReply)
					code := reply.GetRejection().GetCode()
					mu.Lock()
					outcomes = append(outcomes, outcome{c.CommandId, code, reply.GetOrder().GetVersion()})
					mu.Unlock()
					switch code {
					case actors.CodeRetry:
						select {
						case <-stopped:
						case <-time.After(10 * time.Second):
							fail("slot %d: activation answered retry but did not stop", s)
							return
						}
						mu.Lock()
						retries++
						mu.Unlock()
						pid = b.spawn(actors.KindOrder, id)
						stopped = b.watch(pid)
						seen = &pb.OrderState{Status: order.Pending}
					case "":
						seen = reply.GetOrder()
					}
				}
			})
		}
		close(start)
		wg.Wait()
		require.Empty(t, failures, "round %d", round)
		require.Positive(t, retries, "round %d: the opening race must fence one activation", round)
		totalRetries += retries

		j := b.journal(t, id)
		bySeq := requireGapFree(t, j)
		applied := map[string]bool{}
		for _, o := range outcomes {
			if o.code != "" {
				continue
			}
			require.Equal(t, o.cmdID, bySeq[o.version],
				"round %d: success of %s at version %d is not the journal's event there", round, o.cmdID, o.version)
			applied[o.cmdID] = true
		}
		for _, r := range j[1:] {
			require.True(t, applied[r.CommandID], "round %d: journal seq %d (%s) was never acknowledged", round, r.Seq, r.CommandID)
		}

		// The read model and the reservations follow the journal.
		fresh := b.order(t, b.spawn(actors.KindOrder, id), getCmd()).GetOrder()
		require.Equal(t, int64(len(j)), fresh.GetVersion())
		row, err := b.store.GetOrder(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, fresh.GetVersion(), row.Version)
		require.Equal(t, fresh.GetStatus(), row.Status)
		require.Equal(t, fresh.GetDriverId(), row.DriverID)
		for _, drv := range d {
			want := 0
			if fresh.GetStatus() == order.Assigned && fresh.GetDriverId() == drv {
				want = 1
			}
			require.Equal(t, want, b.activeOrders(t, drv), "round %d: driver %s reservations", round, drv)
		}
	}
	t.Logf("%d rounds, %d fenced activations", rounds, totalRetries)
}

// TestRepeatedCommandIsAppliedOnce: a command id already applied is
// answered with the current state and no new event — by the same
// activation, by a fresh one after the first stopped, and by way of a
// stale activation that is fenced first (the cluster's retry path).
func TestRepeatedCommandIsAppliedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Capacity 2, so the stale activation's repeat below gets past the
	// reservation to the journal key; with capacity 1 see
	// TestStaleRepeatOfAppliedAssignAtFullDriverIsFenced.
	d1 := b.seedDriver(t, 2)
	id := newID("ord")
	a := b.spawn(actors.KindOrder, id)
	require.Nil(t, b.order(t, a, createCmd()).GetRejection())
	stale := b.spawn(actors.KindOrder, id)
	require.Nil(t, b.order(t, stale, getCmd()).GetRejection())

	assign := assignCmd(d1)
	first := b.order(t, a, assign)
	require.Nil(t, first.GetRejection())
	require.Equal(t, int64(2), first.GetOrder().GetVersion())

	again := b.order(t, a, proto.Clone(assign).(*pb.OrderCommand))
	require.Nil(t, again.GetRejection(), "a repeat is not order_already_assigned")
	require.Equal(t, int64(2), again.GetOrder().GetVersion())

	// The stale activation does not know the id: it tries to write, is
	// fenced and stops; the retry reaches a fresh activation that does.
	staleStopped := b.watch(stale)
	require.Equal(t, actors.CodeRetry, b.order(t, stale, proto.Clone(assign).(*pb.OrderCommand)).GetRejection().GetCode())
	requireStops(t, staleStopped, "stale activation")

	aStopped := b.watch(a)
	b.system.Root.Stop(a)
	requireStops(t, aStopped, "first activation")
	retried := b.order(t, b.spawn(actors.KindOrder, id), proto.Clone(assign).(*pb.OrderCommand))
	require.Nil(t, retried.GetRejection())
	require.Equal(t, int64(2), retried.GetOrder().GetVersion())
	require.Equal(t, d1, retried.GetOrder().GetDriverId())

	// Across a snapshot too: push the order past SnapshotEvery events,
	// then repeat every command to a fresh activation.
	drv := &pb.Principal{UserId: d1, Role: actors.RoleDriver}
	cmds := []*pb.OrderCommand{assign}
	c := b.spawn(actors.KindOrder, id)
	for _, next := range []*pb.OrderCommand{cmd(drv), cmd(drv), cmd(drv), cmd(drv)} {
		cmds = append(cmds, next)
	}
	cmds[1].Body = &pb.OrderCommand_Accept{Accept: &pb.AcceptOrder{}}
	cmds[2].Body = &pb.OrderCommand_ChangeStatus{ChangeStatus: &pb.ChangeStatus{Status: order.PickedUp}}
	cmds[3].Body = &pb.OrderCommand_ChangeStatus{ChangeStatus: &pb.ChangeStatus{Status: order.InTransit}}
	cmds[4].Body = &pb.OrderCommand_ChangeStatus{ChangeStatus: &pb.ChangeStatus{Status: order.Delivered}}
	for _, next := range cmds[1:] {
		require.Nil(t, b.order(t, c, next).GetRejection())
	}
	require.Equal(t, 0, b.activeOrders(t, d1))
	fresh := b.spawn(actors.KindOrder, id)
	for _, repeat := range cmds {
		r := b.order(t, fresh, proto.Clone(repeat).(*pb.OrderCommand))
		require.Nil(t, r.GetRejection())
		require.Equal(t, int64(6), r.GetOrder().GetVersion())
	}
	j := b.journal(t, id)
	requireGapFree(t, j)
	require.Len(t, j, 6)
	require.Equal(t, 0, b.activeOrders(t, d1), "a repeated delivery does not release the driver twice")
	types := make([]string, 0, len(j))
	for _, r := range j {
		types = append(types, r.Type)
	}
	require.True(t, slices.Equal([]string{"order.created", "order.assigned", "order.accepted",
		"order.status_changed", "order.status_changed", "order.status_changed"}, types), "%v", types)
}

// TestStaleRepeatOfAppliedAssignAtFullDriverIsFenced is the cluster retry
// path with a full driver: activation A applies "assign d1" (d1 has
// capacity 1, now used by this very order), the reply is lost, and the
// retry lands on a stale activation B of the same order. B must be fenced
// by the journal key (answer "retry", stop) so that the next attempt
// reaches a fresh activation that recognises the command id and answers
// success. The store checks the journal key before the driver guard, so the
// conflict is not masked by driver_unavailable (it was, once: the caller
// was told a command that had been applied failed).
func TestStaleRepeatOfAppliedAssignAtFullDriverIsFenced(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d1 := b.seedDriver(t, 1)
	id := newID("ord")
	a := b.spawn(actors.KindOrder, id)
	require.Nil(t, b.order(t, a, createCmd()).GetRejection())
	stale := b.spawn(actors.KindOrder, id)
	require.Nil(t, b.order(t, stale, getCmd()).GetRejection())

	assign := assignCmd(d1)
	require.Nil(t, b.order(t, a, assign).GetRejection())

	staleStopped := b.watch(stale)
	require.Equal(t, actors.CodeRetry, b.order(t, stale, proto.Clone(assign).(*pb.OrderCommand)).GetRejection().GetCode())
	requireStops(t, staleStopped, "stale activation")
	retried := b.order(t, b.spawn(actors.KindOrder, id), proto.Clone(assign).(*pb.OrderCommand))
	require.Nil(t, retried.GetRejection())
	require.Equal(t, int64(2), retried.GetOrder().GetVersion())
	requireGapFree(t, b.journal(t, id))
	require.Equal(t, 1, b.activeOrders(t, d1))
}
