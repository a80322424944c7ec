import { useCallback, useState } from "react";
import { ok, type User } from "@outrider/client";
import { api, describe } from "./session";
import { usePages } from "./pages";
import { AddForm, ErrorLine, LoadMore } from "./ui";

type Role = User["role"];

/**
 * The users: listed page by page (GET /v1/users, by role and searched by
 * the node), a driver or an admin added (customers sign themselves up),
 * an account switched off or on, a role changed.
 */
export function Users({ me }: { me: User }) {
  const [role, setRole] = useState<Role | "">("");
  const [q, setQ] = useState("");
  const [search, setSearch] = useState("");
  const fetchPage = useCallback(
    (cursor?: string) =>
      ok(api.GET("/v1/users", { params: { query: { limit: 50, ...(role ? { role } : {}), ...(search ? { q: search } : {}), ...(cursor ? { cursor } : {}) } } })),
    [role, search],
  );
  const list = usePages(fetchPage, (u) => u.id);
  const [error, setError] = useState<string | undefined>();

  const patch = async (u: User, body: { active?: boolean; role?: Role }) => {
    setError(undefined);
    try {
      list.replace(await ok(api.PATCH("/v1/users/{id}", { params: { path: { id: u.id } }, body })));
    } catch (e) {
      setError(describe(e));
    }
  };

  return (
    <main className="page">
      <h2>Users</h2>
      <form
        className="toolbar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setSearch(q.trim());
        }}
      >
        <label htmlFor="user-role">Role</label>
        <select id="user-role" value={role} onChange={(e) => setRole(e.target.value as Role | "")}>
          <option value="">All</option>
          <option value="customer">Customers</option>
          <option value="driver">Drivers</option>
          <option value="admin">Admins</option>
        </select>
        <label htmlFor="user-q">Search</label>
        <input id="user-q" type="search" placeholder="name or e-mail" value={q} onChange={(e) => setQ(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      <NewUser onCreated={(u) => list.prepend(u)} />
      <ErrorLine error={error ?? list.error} />
      <table className="drivers" data-testid="users">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">E-mail</th>
            <th scope="col">Role</th>
            <th scope="col">Since</th>
            <th scope="col">Account</th>
          </tr>
        </thead>
        <tbody>
          {list.items.map((u) => (
            <tr key={u.id} data-user-id={u.id}>
              <td>{u.name}</td>
              <td>{u.email}</td>
              <td>
                <select aria-label={`Role of ${u.email}`} value={u.role} disabled={u.id === me.id} onChange={(e) => void patch(u, { role: e.target.value as Role })}>
                  <option value="customer">customer</option>
                  <option value="driver">driver</option>
                  <option value="admin">admin</option>
                </select>
              </td>
              <td>{new Date(u.created_at).toLocaleDateString()}</td>
              <td>
                {u.active ? "active" : "switched off"}{" "}
                {u.id !== me.id && (
                  <button type="button" className="secondary" onClick={() => void patch(u, { active: !u.active })}>
                    {u.active ? "Switch off" : "Switch on"}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <LoadMore pages={list} />
    </main>
  );
}

function NewUser({ onCreated }: { onCreated: (u: User) => void }) {
  const submit = async (f: FormData) => {
    const role = f.get("role") === "admin" ? "admin" : "driver";
    const capacity = Number(f.get("capacity"));
    onCreated(
      await ok(
        api.POST("/v1/users", {
          body: {
            name: String(f.get("name")),
            email: String(f.get("email")),
            password: String(f.get("password")),
            role,
            ...(role === "driver" && capacity > 0 ? { capacity } : {}),
          },
        }),
      ),
    );
  };
  return (
    <AddForm opener="Add a driver or an admin…" label="New user" submit={submit}>
      <label>
        Name <input name="name" required maxLength={200} />
      </label>
      <label>
        E-mail <input name="email" type="email" required maxLength={254} />
      </label>
      <label>
        Password <input name="password" type="password" required minLength={8} autoComplete="new-password" />
      </label>
      <label>
        Role
        <select name="role" defaultValue="driver">
          <option value="driver">driver</option>
          <option value="admin">admin</option>
        </select>
      </label>
      <label>
        Capacity (drivers) <input name="capacity" type="number" min={1} max={20} defaultValue={1} />
      </label>
    </AddForm>
  );
}
