import { useState, type FormEvent } from "react";
import type { User } from "@outrider/client";
import { describe, login } from "./session";
import { ErrorLine } from "./ui";

/** Email and password, through the SDK's login; the node's problem code and detail on failure. */
export function Login({ onLogin }: { onLogin: (u: User) => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onLogin(await login(email, password));
    } catch (err) {
      setError(describe(err));
      setBusy(false);
    }
  };

  return (
    <main className="center">
      <form className="login" onSubmit={(e) => void submit(e)} aria-labelledby="login-title">
        <h1 id="login-title">Outrider console</h1>
        <label htmlFor="email">Email</label>
        <input id="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <ErrorLine error={error} testId="login-error" />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
