// The dashboard end to end in a real browser (Debian's Chromium driven by playwright-core):
// a scheduler with --http and real agents as processes, jobs submitted through the CLI. Signs
// in, watches a job progress live, SIGKILLs its agent and finds the failure and the restore on
// the timeline, cancels the job from the page, and checks that a user sees no other user's
// jobs and that a hostile job name stays text. Screenshots go to test-results/dashboard/.
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { BrowserContext, Page } from 'playwright-core';
import { HANG_GUARD_MS } from '../../hang-guard.js';
import { CliProcess, ROOT, runCli, tempDir } from '../../runner/helpers.js';
import { CLUSTER_JOB, client, createToken, job, startAgent, startScheduler, submit, waitFor, type SchedulerProcess } from '../helpers.js';

/** The page's own document, in functions that run in the page (the tests compile without the DOM types). */
declare const document: { querySelector(selector: string): { textContent: string | null } | null };

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'test-results', 'dashboard');
const XSS = '<img src=x onerror=alert(1)>';

const missing = fs.existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (apt-get install chromium; .ci/run does it)`;

/** A browser with a fresh profile of its own, closed when the test ends. */
async function browser(t: ExecutionContext): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  const profile = tempDir(t, 'chromium');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: HANG_GUARD_MS,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => context.close());
  return context;
}

/** A page, and the script errors and dialogs it had (the test asserts there were none). A failed test leaves a screenshot. */
async function newPage(t: ExecutionContext, context: BrowserContext): Promise<{ page: Page; problems: string[] }> {
  const page = context.pages()[0] ?? (await context.newPage());
  t.teardown(async () => {
    if (!t.passed) await shot(page, `failed-${t.title.slice(0, 30).replace(/\W+/g, '-')}`).catch(() => undefined);
  });
  page.setDefaultTimeout(HANG_GUARD_MS);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`script error: ${err.stack ?? err.message}`));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return { page, problems };
}

async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.waitForURL(/\/login$/);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => u.pathname === '/');
  await page.waitForSelector('#who:not(:empty)');
}

async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** A scheduler serving the dashboard on a free port of loopback, and the dashboard's address. */
async function dashboardScheduler(t: ExecutionContext, extra: string[] = [], localAgent = false): Promise<{ scheduler: SchedulerProcess; url: string }> {
  const scheduler = await startScheduler(t, { extra: ['--http', '127.0.0.1:0', ...extra], localAgent });
  let m: RegExpExecArray | null = null;
  await scheduler.cli.waitUntil(() => (m = /dashboard on (http\S+)\n/.exec(scheduler.cli.stdout)) !== null, 'the dashboard to listen');
  return { scheduler, url: (m as unknown as RegExpExecArray)[1]! };
}

const percent = (page: Page, id: number) => page.$eval(`tr[data-job="${id}"] .pct`, (el) => Number.parseInt(el.textContent ?? '0', 10));

/** A test in the browser, one after another; skipped, saying why, where there is no browser. */
function inBrowser(title: string, fn: (t: ExecutionContext) => Promise<void>): void {
  if (missing) test.serial.skip(`${title} [skipped: ${missing}]`, fn);
  else test.serial(title, fn);
}

inBrowser('an admin signs in, sees a job progress live, finds its failure and restore on the timeline after its agent was SIGKILLed, and cancels it from the page.', async (t) => {
  // The browser starts first, and the agents together: quicker on a loaded machine.
  const { page, problems } = await newPage(t, await browser(t));
  const { scheduler, url } = await dashboardScheduler(t);
  const agents = new Map<string, CliProcess>(await Promise.all(['node-a', 'node-b'].map(async (name) => [name, await startAgent(t, scheduler.address, name)] as const)));
  const cluster = client(t, scheduler.address);
  await signIn(page, url, fs.readFileSync(scheduler.tokenFile, 'utf8').trim());
  await shot(page, '1-jobs-empty');

  // Attempt 1 holds at step 80 until its node is killed, attempt 2 at step 160 until it is
  // cancelled: the job surely runs when the test acts.
  const id = await submit(t, scheduler.address, CLUSTER_JOB, { steps: 400, stepMs: 20, length: 1 << 18, holdAt: 80, holdAttempts: 2 }, ['--interval', '0.3', '--retries', '0', '--name', 'heat-on-dashboard']);
  await page.waitForSelector(`tr[data-job="${id}"]`);
  t.is(await page.textContent(`tr[data-job="${id}"] td.name`), 'heat-on-dashboard');
  // Progress moves on the page without a reload: two different values seen in turn.
  const sel = `tr[data-job="${id}"] .pct`;
  await page.waitForFunction((s) => Number.parseInt(document.querySelector(s)?.textContent ?? '0', 10) > 0, sel);
  const first = await percent(page, id);
  await page.waitForFunction(([s, before]) => Number.parseInt(document.querySelector(s)?.textContent ?? '0', 10) > before, [sel, first] as [string, number]);
  t.true((await percent(page, id)) > first);
  await shot(page, '2-jobs-progress');

  const running = await waitFor('attempt 1 to hold with an image', async () => {
    const j = await job(cluster, id);
    if (j.state !== 'running' || j.progress < 0.2 - 0.001) return undefined;
    const { images } = await cluster.call('ListImages', { job: id });
    return images.length > 0 ? j : undefined;
  });
  agents.get(running.node)!.child.kill('SIGKILL');
  await waitFor('attempt 2 to resume from an image', async () => {
    const { lines } = await cluster.call('GetLogs', { job: id, after: 0 });
    return lines.some((l) => l.attempt === 2 && /resumed from image \d+/.test(l.text)) ? true : undefined;
  });

  await page.click(`tr[data-job="${id}"] td.name a`);
  await page.waitForSelector('#job-name');
  t.is(await page.textContent('#job-name'), 'heat-on-dashboard');
  const failure = await page.waitForSelector('.tl-failure[data-attempt="1"]');
  t.regex((await failure.textContent()) ?? '', /node lost .*missed its lease/);
  const restore = await page.waitForSelector('.tl-restore[data-attempt="2"]');
  t.regex((await restore.textContent()) ?? '', /attempt 2 restored from image \d+/);
  t.true((await page.$$('.tl-checkpoint')).length > 0, 'checkpoint marks');
  const mark = await page.$eval('.tl-checkpoint', (el) => el.textContent ?? '');
  t.regex(mark, /image \d+ \((full|incremental)\): [\d.]+ (B|KiB|MiB).*\npause [\d.]+ (ms|s), commit [\d.]+ (ms|s)/s);
  await page.waitForSelector('#images table');
  await page.waitForFunction(() => /resumed from image/.test(document.querySelector('#log')?.textContent ?? ''));
  await shot(page, '3-job-timeline');

  await page.click('#cancel');
  await page.waitForSelector('#confirm[open]');
  t.regex((await page.textContent('#confirm-text')) ?? '', /Cancel job \d+ \(heat-on-dashboard\)/);
  await page.click('#confirm-ok');
  await page.waitForSelector('#job-head .state-cancelled');
  t.is((await job(cluster, id)).state, 'cancelled');
  await shot(page, '4-job-cancelled');
  await page.click('a[data-nav=nodes]');
  await page.waitForSelector(`tr[data-node="${running.node}"] .state-dead`);

  t.deepEqual(problems, []);
});

inBrowser('an admin sees the nodes and the cluster, and drains and undrains a node from the page.', async (t) => {
  const { page, problems } = await newPage(t, await browser(t));
  const { scheduler, url } = await dashboardScheduler(t, ['--name', 'node-x', '--slots', '1'], true);
  const cluster = client(t, scheduler.address);
  await signIn(page, url, fs.readFileSync(scheduler.tokenFile, 'utf8').trim());
  await page.click('a[data-nav=cluster]');
  await page.waitForSelector('#leadership');
  t.regex((await page.textContent('#leadership')) ?? '', /^this scheduler leads \(epoch \d+\), at /);
  t.is(await page.textContent('#storage'), 'healthy');
  await shot(page, '5-cluster');
  await page.click('a[data-nav=nodes]');
  await page.waitForSelector('tr[data-node="node-x"] .state-alive');
  await page.click('tr[data-node="node-x"] button.drain');
  await page.waitForSelector('#confirm[open]');
  t.is(await page.textContent('#confirm-text'), 'Drain node node-x? Its jobs checkpoint and move; it takes no new ones.');
  await page.click('#confirm-ok');
  await page.waitForSelector('tr[data-node="node-x"] .state-draining');
  t.is((await cluster.call('ListNodes', {})).nodes.find((n) => n.name === 'node-x')?.state, 'draining');
  await shot(page, '6-nodes-draining');
  await page.click('tr[data-node="node-x"] button.drain');
  await page.click('#confirm-ok');
  await page.waitForSelector('tr[data-node="node-x"] .state-alive');
  t.is((await cluster.call('ListNodes', {})).nodes.find((n) => n.name === 'node-x')?.state, 'alive');
  t.deepEqual(problems, []);
});

inBrowser('a user signed in sees only its own jobs, and a job named like markup shows as text.', async (t) => {
  const { page, problems } = await newPage(t, await browser(t));
  const { scheduler, url } = await dashboardScheduler(t);
  const [alice, bob] = [await createToken(scheduler.address, 'user'), await createToken(scheduler.address, 'user')];
  const submitAs = async (token: string, name: string): Promise<number> => {
    const run = await runCli(t, ['submit', CLUSTER_JOB, '--scheduler', scheduler.address, '--name', name], { CR_TOKEN: token });
    if (run.code !== 0) throw new Error(run.stderr);
    return Number(run.stdout.trim());
  };
  const alicesJob = await submitAs(alice, 'alices-job');
  const bobsJob = await submitAs(bob, XSS);
  const bobsOther = await submitAs(bob, 'zz-bobs-second');
  await signIn(page, url, bob);
  await page.waitForSelector(`tr[data-job="${bobsJob}"]`);
  await page.waitForSelector(`tr[data-job="${bobsOther}"]`);
  t.is(await page.$(`tr[data-job="${alicesJob}"]`), null, "alice's job is not in bob's table");
  const order = () => page.$$eval('tbody tr', (rows) => rows.map((r) => Number(r.getAttribute('data-job'))));
  t.deepEqual(await order(), [bobsOther, bobsJob], 'newest first');
  // Sorted by name, ascending ('<' before 'z'), then descending; filtered by state.
  await page.click('th[data-sort=name]');
  t.deepEqual(await order(), [bobsJob, bobsOther]);
  await page.click('th[data-sort=name]');
  t.deepEqual(await order(), [bobsOther, bobsJob]);
  await page.selectOption('#filter-state', 'running');
  await page.waitForSelector('#jobs .empty');
  await page.selectOption('#filter-state', 'queued');
  t.deepEqual((await order()).sort(), [bobsJob, bobsOther].sort());
  t.is(await page.textContent(`tr[data-job="${bobsJob}"] td.name`), XSS);
  t.is(await page.$('tbody img'), null, 'the name made no element');
  await shot(page, '7-user-jobs');
  await page.goto(`${url}/#/job/${bobsJob}`);
  await page.waitForSelector('#job-name');
  t.is(await page.textContent('#job-name'), XSS);
  t.is(await page.$('#job-head img'), null);
  await page.goto(`${url}/#/job/${alicesJob}`);
  await page.waitForSelector('#job-head .error');
  t.regex((await page.textContent('#job-head')) ?? '', /No such job, or not one you may see/);
  t.false(((await page.textContent('body')) ?? '').includes('alices-job'));
  await shot(page, '8-user-other-job');
  t.deepEqual(problems, []);
});
