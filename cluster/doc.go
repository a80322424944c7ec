// Package cluster wires Outrider's virtual actors (orders, drivers, users)
// into a Proto.Actor cluster and gives the rest of the code one typed, safe
// way to talk to them.
//
// Start here: build a [Config], call [New] with the actor kinds this node
// hosts, then [Node.Start]. Handlers call [Node.Order], [Node.Driver] or
// [Node.User]; each returns the actor's typed reply or an error. An error
// for which errors.Is(err, [ErrUnavailable]) holds means the cluster could
// not produce an answer in time (map it to 503); any other error is a bug or
// a cancelled context.
//
// Placement is only a hint (see DESIGN.md §2): the disthash identity lookup
// has no lease, so correctness rests on the actors' guarded writes, and this
// package's job is to deliver each command at least once within the
// caller's deadline. It therefore retries with real, jittered back-off
// (the library's own retry sleeps nanoseconds) and relies on every command
// carrying a command_id that the actors de-duplicate.
//
// An activation learns its identity from its first message, a
// *pcluster.ClusterInit with the Identity set, which the placement actor
// sends right after spawning it; pcluster.GetClusterIdentity does not work
// in these actors (the context extension behind it would cost every idle
// actor a cloned Props).
//
// Concurrency: a [Node] is safe for concurrent use. Its lifecycle state
// (the library cluster, readiness, address) is guarded by Node.mu; requests
// take a read lock only long enough to fetch the library cluster handle.
package cluster
