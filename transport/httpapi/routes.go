package httpapi

import (
	"net/http"

	"github.com/outrider/outrider/transport/httpapi/console"
)

// routes registers every route of the API with its policy. The RBAC test
// walks this table × every role.
func (s *Server) routes() {
	s.handle(http.MethodGet, "/v1/openapi.json", public, s.openAPI)
	s.handle(http.MethodGet, "/healthz", public, s.healthz)
	s.handle(http.MethodGet, "/readyz", public, s.readyz)
	if s.cfg.OpsOnly {
		return
	}
	// The dispatcher's console: the embedded web app, public (it logs in through the API).
	pages := console.Handler(s.cfg.Console)
	s.router.Handler(http.MethodGet, "/console", pages)
	s.router.Handler(http.MethodGet, "/console/*path", pages)
	// A customer's tracking page (the build's track.html; it reads GET /v1/track/:token).
	s.router.Handler(http.MethodGet, "/track/*token", console.TrackHandler(pages))
	authLimited := policy{public: true, authLimited: true}

	s.handle(http.MethodPost, "/v1/auth/signup", authLimited, s.signup)
	s.handle(http.MethodPost, "/v1/auth/login", authLimited, s.login)
	s.handle(http.MethodPost, "/v1/auth/refresh", authLimited, s.refresh)
	s.handle(http.MethodPost, "/v1/auth/logout", anyUser, s.logout)
	s.handle(http.MethodPost, "/v1/auth/password-reset", authLimited, s.requestPasswordReset)
	s.handle(http.MethodPost, "/v1/auth/password-reset/confirm", authLimited, s.confirmPasswordReset)
	s.handle(http.MethodGet, "/v1/me", anyUser, s.me)
	s.handle(http.MethodPatch, "/v1/me", anyUser, s.updateMe)
	s.handle(http.MethodPost, "/v1/me/password", anyUser, s.changePassword)

	s.handle(http.MethodPost, "/v1/users", adminOnly, s.createUser)
	s.handle(http.MethodGet, "/v1/users", adminOnly, s.listUsers)
	s.handle(http.MethodPatch, "/v1/users/:id", adminOnly, s.patchUser)
	s.handle(http.MethodDelete, "/v1/users/:id", adminOnly, s.eraseUser)
	s.handle(http.MethodGet, "/v1/users/:id/export", anyUser, s.exportUser)

	s.handle(http.MethodGet, "/v1/drivers", adminOnly, s.listDrivers)
	// httprouter cannot mix /v1/drivers/me/... with /v1/drivers/:id, so
	// "me" is a value of :id that means the calling driver.
	s.handle(http.MethodGet, "/v1/drivers/:id", roles("driver", "admin"), s.getDriver)
	// ... and "nearby" is a value of :id served by its own route.
	s.handleLiteral(http.MethodGet, "/v1/drivers/nearby", adminOnly, s.nearbyDrivers)
	s.handle(http.MethodPatch, "/v1/drivers/:id", adminOnly, s.patchDriver)
	s.handle(http.MethodPut, "/v1/drivers/:id/availability", roles("driver"), s.setAvailability)

	s.handle(http.MethodPost, "/v1/orders", roles("customer", "admin"), s.createOrder)
	s.handle(http.MethodGet, "/v1/orders", anyUser, s.listOrders)
	s.handle(http.MethodGet, "/v1/orders/:id", anyUser, s.getOrder)
	s.handle(http.MethodGet, "/v1/orders/:id/timeline", anyUser, s.timeline)
	s.handle(http.MethodGet, "/v1/orders/:id/track", anyUser, s.track)
	s.handle(http.MethodGet, "/v1/orders/:id/tracking-link", anyUser, s.trackingLink)
	s.handle(http.MethodGet, "/v1/track/:token", public, s.trackByToken)
	s.handle(http.MethodGet, "/v1/track/:token/events", public, s.trackEvents)
	s.handle(http.MethodPost, "/v1/orders/:id/assign", adminOnly, s.assign)
	s.handle(http.MethodPost, "/v1/orders/:id/unassign", adminOnly, s.unassign)
	s.handle(http.MethodPost, "/v1/orders/:id/dispatch", adminOnly, s.startDispatch)
	s.handle(http.MethodGet, "/v1/orders/:id/dispatch", adminOnly, s.getDispatch)
	s.handle(http.MethodPost, "/v1/orders/:id/accept", roles("driver"), s.accept)
	s.handle(http.MethodPost, "/v1/orders/:id/decline", roles("driver"), s.decline)
	s.handle(http.MethodPut, "/v1/orders/:id/status", anyUser, s.changeStatus)
	s.handle(http.MethodPut, "/v1/orders/:id/payment", adminOnly, s.setPayment)

	s.handle(http.MethodGet, "/v1/orders/:id/proofs", anyUser, s.listProofs)
	s.handle(http.MethodPost, "/v1/orders/:id/proofs", roles("driver"), s.recordProof)
	s.handle(http.MethodPost, "/v1/uploads/presign", roles("driver"), s.presignUpload)
	// The local blob store's signed URLs (outrider dev): the signature is
	// the authentication, so these are public.
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut} {
		s.handle(m, "/v1/blobs/*key", public, s.serveBlob)
	}

	s.handle(http.MethodGet, "/v1/notifications", anyUser, s.listNotifications)
	// httprouter cannot have /v1/notifications/read-all beside
	// /v1/notifications/:id/read: "read-all" is a value of :id.
	s.handle(http.MethodPost, "/v1/notifications/:id", anyUser, s.markNotification)
	s.handle(http.MethodPost, "/v1/notifications/:id/read", anyUser, s.readNotification)

	s.handle(http.MethodPost, "/v1/webhooks", adminOnly, s.createWebhook)
	s.handle(http.MethodGet, "/v1/webhooks", adminOnly, s.listWebhooks)
	s.handle(http.MethodGet, "/v1/webhooks/:id", adminOnly, s.getWebhook)
	s.handle(http.MethodPatch, "/v1/webhooks/:id", adminOnly, s.updateWebhook)
	s.handle(http.MethodDelete, "/v1/webhooks/:id", adminOnly, s.deleteWebhook)
	s.handle(http.MethodGet, "/v1/webhooks/:id/deliveries", adminOnly, s.webhookDeliveries)

	s.handle(http.MethodGet, "/v1/metrics/orders-by-day", adminOnly, s.ordersByDay)
	s.handle(http.MethodGet, "/v1/metrics/delivery-times", adminOnly, s.deliveryTimes)
	s.handle(http.MethodGet, "/v1/cluster", adminOnly, s.clusterStatus)

	// Browsers cannot set headers on a WebSocket: this route also takes
	// the access token as ?access_token=.
	s.handle(http.MethodGet, "/v1/ws", policy{roles: anyUser.roles, queryToken: true}, s.websocket)
	s.handle(http.MethodGet, "/v1/asyncapi.json", public, s.asyncAPI)
}
