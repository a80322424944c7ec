package ws

// Sessions is the number of WebSocket sessions open on this node (the
// cluster's member record reports it).
func (g *Gateway) Sessions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sessions)
}
