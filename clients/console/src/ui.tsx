/** Small pieces every view of the console uses. */
import { useState, type FormEvent, type ReactNode } from "react";
import { describe } from "./session";
import type { Pages } from "./pages";

/** A failure, said to the person (and to a screen reader at once); nothing without one. */
export function ErrorLine({ error, testId }: { error: string | undefined; testId?: string }) {
  return error ? (
    <p className="error" role="alert" data-testid={testId}>
      {error}
    </p>
  ) : null;
}

/** The "Load more" button of a paged list, while the API has more. */
export function LoadMore<T>({ pages }: { pages: Pages<T> }) {
  return pages.more ? (
    <p>
      <button type="button" onClick={pages.loadMore} disabled={pages.loading}>
        Load more
      </button>
    </p>
  ) : null;
}

/**
 * A form that adds something, behind a button that opens it: submit
 * gets the form's fields and throws to show a failure (the problem's
 * code and detail); on success the form closes.
 */
export function AddForm({ opener, label, submit, children }: { opener: string; label: string; submit: (f: FormData) => Promise<void>; children: ReactNode }) {
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  if (!open) {
    return (
      <p>
        <button type="button" onClick={() => setOpen(true)}>
          {opener}
        </button>
      </p>
    );
  }
  const onSubmit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await submit(new FormData(e.currentTarget));
      setOpen(false);
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="panel form" onSubmit={(e) => void onSubmit(e)} aria-label={label}>
      {children}
      <div className="actions">
        <button type="submit" disabled={busy}>
          Add
        </button>
        <button type="button" className="secondary" onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
      <ErrorLine error={error} />
    </form>
  );
}
