// Package email sends the worker's e-mails. [Sender] is what the worker
// depends on; [SMTPSender] talks to a submission server and [LogSender]
// stands in for it in development, logging instead of sending.
//
// Both build the same RFC 5322 message from a [Message], so a message the
// LogSender accepts is one the SMTPSender would send: Date, From, To,
// Subject (RFC 2047 Q-encoded when not ASCII), Message-Id, MIME-Version,
// quoted-printable UTF-8 text, and multipart/alternative when an HTML body
// is given; CRLF line endings and folded headers throughout.
//
// Validation happens before any network traffic. A CR or LF in a header
// value or address (header injection) or an unparsable address is refused
// with an error wrapping [ErrInvalidMessage]; such a message can never be
// sent and the worker should not retry it. [IsPermanent] tells those and
// the server's 5xx rejections apart from transient failures (4xx replies,
// network errors, timeouts), which are worth retrying.
//
// The package keeps no connection between messages: each Send dials,
// optionally upgrades with STARTTLS and authenticates, submits one message
// and quits. That is simple and robust at the worker's volume; pooling can
// come later behind the same interface.
package email
