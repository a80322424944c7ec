package e2e

// CountOrders is how many orders the admin sees for user (a customer's
// or a driver's id), paging through all of them: tests that check a
// refused request created nothing compare it before and after.
func (a *API) CountOrders(t TB, user string) int {
	t.Helper()
	return len(a.Admin.AllOrders(t, "user="+user, 200))
}
