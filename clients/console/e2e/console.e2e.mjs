// The console in a real browser (Chromium through playwright-core), against
// a real node. e2e/console (Go) starts the node, runs this script and
// talks to it over stdin/stdout, one line each way:
//
//   (before it starts, the test placed 101 orders: two pages)
//   script → test: "STEP board-ready"   the admin is in and the board live
//   test → script: "order <id> <driver id>"  an order placed through the API
//                                        (after the board loaded), and the
//                                        driver near its pickup
//   script → test: "STEP assign-open"   the nearby drivers are listed
//   test → script: "moved"              the driver sent a fix nearer the pickup
//   script → test: "STEP assigned"      the order offered from the console
//   test → script: "accepted"           the driver accepted on his socket
//   script → test: "STEP filtered"      the board shows accepted orders only
//   test → script: "picked-up"          the driver picked the order up
//   script → test: "STEP done"          every check passed
//
// Environment: OUTRIDER_URL, OUTRIDER_ADMIN_EMAIL, OUTRIDER_ADMIN_PASSWORD,
// CHROMIUM (the browser binary), OUT_DIR (screenshots go there).
// It fails (exit 1) on the first check that does not hold, on any console
// error or uncaught exception of the page, and on any request to another
// origin than the node's.
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
};
const base = env("OUTRIDER_URL");
const origin = new URL(base).origin;
const wsOrigin = origin.replace(/^http/, "ws");
const out = env("OUT_DIR");
mkdirSync(out, { recursive: true });

const lines = createInterface({ input: process.stdin });
const queue = [];
const waiters = [];
lines.on("line", (l) => (waiters.length ? waiters.shift()(l) : queue.push(l)));
const nextLine = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((res) => waiters.push(res)));
const step = (name) => console.log(`STEP ${name}`);

const profile = mkdtempSync(join(tmpdir(), "outrider-chromium-"));
// The machine's network is closed: without these Chromium keeps trying
// to reach Google's services and floods refused connections.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env("CHROMIUM"),
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1366, height: 860 },
});

const problems = [];
const requests = [];
let allowed401 = 0; // the failed login we provoke logs one "Failed to load resource: 401"
context.on("request", (r) => requests.push(r.url()));
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(30_000); // a loaded make test; a passing run waits for none of it
page.on("console", (m) => {
  if (m.type() !== "error") {
    return;
  }
  if (allowed401 > 0 && /status of 401/.test(m.text())) {
    allowed401--;
    return;
  }
  problems.push(`console error: ${m.text()}`);
});
page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
page.on("websocket", (ws) => requests.push(ws.url()));
page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));

const shot = async (name) => {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(out, `${name}.png`) });
};
const card = (status, id) => page.locator(`section[data-status="${status}"] [data-order-id="${id}"]`);

try {
  // Login: a wrong password shows the node's problem code.
  await page.goto(`${base}/console/`);
  await page.getByLabel("Email").fill(env("OUTRIDER_ADMIN_EMAIL"));
  await page.getByLabel("Password").fill("not-the-Password-42");
  allowed401 = 1;
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("login-error").filter({ hasText: "unauthorized" }).waitFor();
  await shot("login");

  await page.getByLabel("Password").fill(env("OUTRIDER_ADMIN_PASSWORD"));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("user").filter({ hasText: env("OUTRIDER_ADMIN_EMAIL") }).waitFor();
  await page.getByTestId("link").filter({ hasText: "Live" }).waitFor();
  await page.locator('section[data-status="pending"]').waitFor();
  // The test placed 101 orders before: a page of 100, then the rest.
  await page.getByText("100 orders loaded").waitFor();
  await page.getByRole("button", { name: "Load more" }).click();
  await page.getByText("101 orders loaded").waitFor();
  await page.getByRole("button", { name: "Load more" }).waitFor({ state: "detached" });
  step("board-ready");

  // An order placed through the API appears without a reload.
  const [, orderId, driverId] = (await nextLine()).split(" ");
  await card("pending", orderId).waitFor();
  await shot("board");

  // The assign panel by keyboard: Enter opens it, Escape closes it and
  // the focus returns to the card's button.
  const assignButton = card("pending", orderId).getByRole("button", { name: "Assign…" });
  await assignButton.focus();
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: /^Assign / }).waitFor();
  await page.keyboard.press("Escape");
  await page.getByRole("heading", { name: /^Assign / }).waitFor({ state: "detached" });
  await page.waitForFunction(() => document.activeElement?.textContent === "Assign…");

  // Assign it from the board to the driver the node ranks near the pickup.
  await assignButton.click();
  const row = page.locator(`tr[data-driver-id="${driverId}"]`);
  await row.waitFor();
  await shot("assign");
  // The driver moves closer: the panel follows him on the fleet channel.
  const metres = async () => {
    const text = (await row.locator("td.distance").textContent()) ?? "";
    const m = /^([\d.]+) (m|km)$/.exec(text.trim());
    if (!m) {
      throw new Error(`the distance cell says ${JSON.stringify(text)}`);
    }
    return Number(m[1]) * (m[2] === "km" ? 1000 : 1);
  };
  const before = await metres();
  step("assign-open");
  if ((await nextLine()) !== "moved") {
    throw new Error("the test did not say moved");
  }
  await page.waitForFunction(
    ([id, was]) => {
      const m = /^([\d.]+) (m|km)$/.exec(document.querySelector(`tr[data-driver-id="${id}"] td.distance`)?.textContent?.trim() ?? "");
      return m !== null && Number(m[1]) * (m[2] === "km" ? 1000 : 1) < was;
    },
    [driverId, before],
  );
  console.log(`the panel followed the driver: ${before} m, then ${await metres()} m`);
  await row.getByRole("button", { name: /^Assign to / }).click();
  await card("assigned", orderId).waitFor();
  step("assigned");

  // The driver accepts on his phone: the card moves live.
  if ((await nextLine()) !== "accepted") {
    throw new Error("the test did not say accepted");
  }
  await card("accepted", orderId).waitFor();
  await shot("board-accepted");

  // A reload keeps the session (the refresh token in sessionStorage) and
  // reads the board again: one more WebSocket, the page's second life.
  await page.reload();
  await page.getByTestId("link").filter({ hasText: "Live" }).waitFor();
  await card("accepted", orderId).waitFor();

  // Keyboard: the search box takes the focus by Tab from the status filter.
  await page.getByLabel("Status").focus();
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement?.id);
  if (focused !== "search") {
    throw new Error(`Tab from the status filter focused #${focused}, not the search box`);
  }
  // Search narrows the board to the order.
  await page.keyboard.type(orderId.slice(-8));
  await card("accepted", orderId).waitFor();
  const cards = await page.locator("[data-order-id]").count();
  if (cards !== 1) {
    throw new Error(`searching for ${orderId} left ${cards} cards`);
  }

  await page.getByLabel("Search").fill("");

  // The status filter reads the list again with the API's filter; an
  // order that moves to a status not shown leaves the board live.
  await page.getByLabel("Status").selectOption("accepted");
  await card("accepted", orderId).waitFor();
  await page.getByText("1 order loaded").waitFor();
  step("filtered");
  if ((await nextLine()) !== "picked-up") {
    throw new Error("the test did not say picked-up");
  }
  await page.locator(`[data-order-id="${orderId}"]`).waitFor({ state: "detached" });
  await page.getByText("0 orders loaded").waitFor(); // it left the board's memory too
  await page.getByLabel("Status").selectOption("picked_up");
  await card("picked_up", orderId).waitFor();
  await page.getByLabel("Status").selectOption("active");
  await card("picked_up", orderId).waitFor();

  // A tablet.
  await page.setViewportSize({ width: 820, height: 1180 });
  await shot("board-tablet");

  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();

  const foreign = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith(`${wsOrigin}/`));
  if (foreign.length > 0) {
    problems.push(`requests that left the node: ${foreign.join(", ")}`);
  }
  if (!requests.some((u) => u.startsWith(`${wsOrigin}/v1/ws`))) {
    problems.push("the page opened no WebSocket to the node");
  }
  const sockets = requests.filter((u) => u.startsWith(`${wsOrigin}/v1/ws`)).length;
  if (sockets !== 2) {
    problems.push(`the page opened ${sockets} WebSockets, not one per load (2)`);
  }
  if (problems.length > 0) {
    throw new Error(problems.join("\n"));
  }
  console.log(`${requests.length} requests, all to ${origin}`);
  step("done");
} catch (e) {
  await shot("failure").catch(() => {});
  console.error(e instanceof Error ? e.stack : e);
  if (problems.length > 0) {
    console.error(problems.join("\n"));
  }
  process.exitCode = 1;
} finally {
  lines.close();
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
