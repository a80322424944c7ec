package ws

// Close codes the gateway uses, in one place. Clients branch on them:
// codes below 4000 are RFC 6455's; 4xxx are Outrider's.
const (
	// CloseNormal: the client asked to close, or the session ended cleanly.
	CloseNormal = 1000
	// CloseGoingAway: the node is shutting down; reconnect (to any node)
	// and resume with `since`.
	CloseGoingAway = 1001
	// CloseProtocolError: the client broke RFC 6455 (an unmasked frame, a
	// reserved bit or opcode, a bad control frame or fragment).
	CloseProtocolError = 1002
	// CloseUnsupportedData: the client sent a binary message; the gateway
	// reads JSON text messages only (RFC 6455 §7.4.1).
	CloseUnsupportedData = 1003
	// CloseInvalidPayload: a text message that is not valid UTF-8 (RFC
	// 6455 §8.1).
	CloseInvalidPayload = 1007
	// ClosePolicyViolation: the client kept sending after being told it
	// exceeded the inbound message rate.
	ClosePolicyViolation = 1008
	// CloseMessageTooBig: a client frame exceeded Config.MaxMessageBytes.
	CloseMessageTooBig = 1009
	// CloseInternalError: the node failed; reconnect and resume.
	CloseInternalError = 1011
	// CloseUnauthorized: the session's access token expired or was revoked;
	// refresh it and reconnect.
	CloseUnauthorized = 4001
	// CloseSlowConsumer: the client did not read fast enough and its send
	// queue (Config.SendQueueSize frames or SendQueueBytes) filled up;
	// reconnect and resume with `since`.
	CloseSlowConsumer = 4008
	// CloseSessionLimit: the user opened more sessions than the cap of
	// his role (Config.MaxSessions) and this, his oldest, made way.
	CloseSessionLimit = 4009
)
