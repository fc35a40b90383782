// The inspector page in a real browser: Debian's Chromium, headless, driven by playwright-core.
// ELDERTREE_SCREENSHOTS=docs also saves the README's screenshots of the main views there.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Node, worker } from '../src/index.js';
import { InspectorTokens, LocalSource, startInspector, type Inspector } from '../src/inspector/index.js';
import { freePort } from '../src/net.js';
import { inspectorTree, launchChromium, playerMachine } from './inspector-fixtures.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

let node: Node;
let inspector: Inspector;
const TOKEN = 'browser-token-0123456789';
const VIEWER_TOKEN = 'viewer-token-0123456789';
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
/** Every URL the page loaded: all of them from the inspector itself (no CDN). */
const requests: string[] = [];

beforeAll(async () => {
  const tree = inspectorTree();
  node = await Node.start({ tree: { ...tree, children: [...tree.children, worker('player', playerMachine)] }, nodeId: 'n1' });
  inspector = await startInspector({
    source: new LocalSource(node),
    port: 0,
    tokens: InspectorTokens.parse(`${TOKEN} operator ada\n${VIEWER_TOKEN} viewer vic\n`),
  });
  chromium = await launchChromium();
  browser = chromium.browser;
  page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('request', (r) => requests.push(r.url()));
  page.setDefaultTimeout(8000);
});

afterAll(async () => {
  await chromium?.close();
  await inspector?.close();
  await node?.stop();
});

const row = (path: string) => page.locator(`tr[data-path="${path}"]`);
const state = (path: string) => page.locator(`svg.statechart g[data-state="${path}"]`);

describe('inspector page in Chromium', () => {
  it('shows the nodes and the supervision tree', async () => {
    await page.goto(inspector.url);
    await expect.poll(() => page.locator('.conn').getAttribute('data-state')).toBe('live');
    await row('/elders/servants/servant-1').waitFor();
    expect(await page.locator('tr.actor').count()).toBe(8);
    expect(await page.locator('.node-card[data-node="n1"] .status').textContent()).toBe('up');
    expect(await row('/elders/servants').locator('.status .badge').textContent()).toBe('running');
    // A supervisor shows how much of its restart intensity is used; a child only its own restarts.
    expect(await row('/elders/servants').locator('.restarts .gauge').textContent()).toBe('0/10');
    expect(await row('/elders/servants/servant-1').locator('.restarts .gauge').textContent()).toBe('');
  });

  it('a crashed servant shows its restart count rise, live, without reload', async () => {
    const restarts = row('/elders/servants/servant-1').locator('.restarts .n');
    expect(await restarts.textContent()).toBe('0');
    node.tell('/elders/servants/servant-1', 'crash');
    await expect.poll(() => restarts.textContent()).toBe('1');
    await expect.poll(() => row('/elders/servants/servant-1').locator('.inc').textContent()).toBe('2');
    expect(await row('/elders/servants/servant-1').locator('.restarts .gauge').textContent()).toBe('');
    await expect.poll(() => row('/elders/servants').locator('.restarts .gauge').textContent()).toBe('1/10');
    expect(await row('/elders/servants').locator('.restarts .gauge').getAttribute('class')).not.toMatch(/warm|hot/); // 1 of 10 is routine
    expect(await row('/elders/servants').locator('.restarts .n').textContent()).toBe('0'); // its own restarts, not its children's
    await page.click('button[data-tab="dead-letters"]');
    await expect.poll(() => page.locator('tr.dead-letter[data-reason="crashed"]').count()).toBe(1);
    await page.click('button[data-tab="incidents"]');
    await expect.poll(() => page.locator('tr.incident').first().textContent()).toContain('/elders/servants/servant-1 crashed');
  });

  it('clicking an actor draws its statechart with the active state highlighted', async () => {
    await row('/elders/light').click();
    await state('green').waitFor();
    expect(await state('green').getAttribute('class')).toMatch(/\bcurrent\b/);
    expect(await state('yellow').getAttribute('class')).not.toMatch(/\bactive\b/);
    expect(await state('red.walk').count()).toBe(1); // nested states are drawn inside their parent
    expect(await page.locator('.actor-title').textContent()).toBe('/elders/light');
    // The events it can take now come first; the enabled transition is marked in the chart.
    const options = await page.locator('#event-type option').allTextContents();
    expect(options.slice(0, 4)).toEqual(['crash', 'emergency', 'get', 'next']);
    expect(options).toContain('countdown (not now)');
    // Transitions are edges (ELK's routes), labelled with their event; the one it can take now is bold.
    // (emergency is on the machine itself, so always enabled.)
    await expect.poll(() => page.locator('svg.statechart g.edge.enabled .edge-label').allTextContents().then((l) => l.sort())).toEqual(['emergency', 'next [calm]']);
    expect(await page.locator('svg.statechart g.edge:not(.initial-edge)').count()).toBe(6);
  });

  it('no token, a wrong one or a viewer\'s may not send; the operator\'s token, asked for once, sends and the state changes', async () => {
    await page.selectOption('#event-type', 'next');
    await page.click('#send-event');
    await expect.poll(() => page.locator('.action-result').textContent()).toContain('unauthorized: send needs the inspector token');
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('token'); // the page asks for it
    await page.fill('#token', 'not-the-token-0123456789');
    await page.press('#token', 'Enter');
    await page.locator('#token').blur();
    await page.click('#send-event');
    await expect.poll(() => page.locator('.action-result').textContent()).toContain('bad_token');
    expect(await page.inputValue('#token')).toBe(''); // a refused token is forgotten
    await page.fill('#token', VIEWER_TOKEN);
    await page.locator('#token').blur();
    await page.click('#send-event');
    await expect.poll(() => page.locator('.action-result').textContent()).toContain('forbidden: role "viewer" may not send');
    await page.fill('#token', TOKEN);
    await page.locator('#token').blur();
    expect(await page.evaluate(() => sessionStorage.getItem('eldertree.token'))).toBe(TOKEN);
    await page.click('#send-event');
    await expect.poll(() => page.locator('.action-result').textContent()).toBe('sent next to /elders/light');
    await expect.poll(() => state('yellow').getAttribute('class')).toMatch(/\bcurrent\b/);
    expect(await state('green').getAttribute('class')).not.toMatch(/\bactive\b/);
    await expect.poll(() => row('/elders/light').locator('.state').textContent()).toBe('yellow');
    await page.selectOption('#event-type', 'next');
    await page.click('#send-event');
    await expect.poll(() => state('red.walk').getAttribute('class')).toMatch(/\bcurrent\b/);
    expect(await state('red').getAttribute('class')).toMatch(/\bactive\b/);
  });

  it('steps back and forth through the event history', async () => {
    await expect.poll(() => page.locator('.step-label').textContent()).toMatch(/· live$/);
    await page.click('#history-back');
    await expect.poll(() => state('yellow').getAttribute('class')).toMatch(/\bcurrent\b/);
    expect(await page.locator('svg.statechart').getAttribute('class')).toMatch(/\bpast\b/);
    expect(await page.locator('.step-head').textContent()).toContain('viewing a past step');
    expect(await page.locator('.step-head .event-type').textContent()).toBe('next');
    await page.click('#history-back');
    await expect.poll(() => state('green').getAttribute('class')).toMatch(/\bcurrent\b/);
    await page.click('#history-forward');
    await expect.poll(() => state('yellow').getAttribute('class')).toMatch(/\bcurrent\b/);
    await page.click('#history-live');
    await expect.poll(() => state('red.walk').getAttribute('class')).toMatch(/\bcurrent\b/);
    expect(await page.locator('svg.statechart').getAttribute('class')).not.toMatch(/\bpast\b/);
  });

  it('restarts a child from the page', async () => {
    await row('/elders/servants/servant-2').click();
    await page.locator('.actor-title', { hasText: '/elders/servants/servant-2' }).waitFor();
    await page.click('#restart-actor');
    await expect.poll(() => page.locator('.action-result').textContent()).toBe('restarted /elders/servants/servant-2 as incarnation #2');
    await expect.poll(() => row('/elders/servants/servant-2').locator('.inc').textContent()).toBe('2');
  });

  it('draws the message sequence and the charts', async () => {
    node.tell('/elders/sage', 'task.submit', { servant: '/elders/servants/servant-3', task: 'polish' });
    await page.click('button[data-tab="messages"]');
    await expect.poll(() => page.locator('svg.seq g.msg[data-corr]').count()).toBeGreaterThan(0);
    expect(await page.locator('svg.seq g.lane').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-lane')))).toEqual(
      expect.arrayContaining(['/elders/sage', '/elders/servants/servant-3']),
    );
    await page.click('button[data-tab="charts"]');
    await expect.poll(() => page.locator('figure.chart').count()).toBe(2);
    expect(pageErrors).toEqual([]);
  });

  it('a nested machine with a parallel region: edges between states, XState internals by meaning, regions inside their parent', async () => {
    await row('/elders/player').click();
    await page.locator('.actor-title', { hasText: '/elders/player' }).waitFor();
    await state('ready.audio.paused').waitFor();
    const labels = await page.locator('svg.statechart g.edge .edge-label').allTextContents();
    expect(labels.sort()).toEqual(['done: loading', 'eject', 'louder', 'pause', 'play', 'quieter']);
    // Each edge is a drawn route, not text in a box.
    for (const d of await page.locator('svg.statechart g.edge path.route').evaluateAll((ps) => ps.map((p) => p.getAttribute('d') ?? ''))) {
      expect(d).toMatch(/^M[\d.]+,[\d.]+( L[\d.]+,[\d.]+)+$/);
    }
    // Nothing clipped: every region and state lies inside its parent and inside the drawing.
    const box = async (path: string) => (await state(path).locator('> rect.box').boundingBox())!;
    const inside = (inner: { x: number; y: number; width: number; height: number }, outer: typeof inner) =>
      inner.x >= outer.x - 0.5 && inner.y >= outer.y - 0.5 && inner.x + inner.width <= outer.x + outer.width + 0.5 && inner.y + inner.height <= outer.y + outer.height + 0.5;
    const svgBox = (await page.locator('svg.statechart').boundingBox())!;
    for (const [child, parent] of [['ready.audio', 'ready'], ['ready.volume', 'ready'], ['ready.audio.playing', 'ready.audio'], ['ready.volume.loud', 'ready.volume'], ['ready', '(machine)']] as const) {
      expect(inside(await box(child), await box(parent)), `${child} inside ${parent}`).toBe(true);
    }
    expect(inside(await box('(machine)'), svgBox)).toBe(true);
    expect(await state('ready').getAttribute('class')).toMatch(/\bparallel\b/);
    // The layout library came from the inspector itself.
    expect(requests.some((u) => u.endsWith('/vendor/elk.bundled.js'))).toBe(true);
    expect(requests.filter((u) => !u.startsWith(inspector.url) && !u.startsWith('data:'))).toEqual([]);
  });

  it('the messages view fits at 1280 px: every lifeline reachable, heads stick, stable lane order, labels on every arrow', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    try {
      for (let i = 1; i <= 3; i++) node.tell('/elders/sage', 'task.submit', { servant: `/elders/servants/servant-${i}`, task: `t${i}` });
      for (const type of ['next', 'play', 'louder']) {
        node.tell('/elders/light', type);
        node.tell('/elders/player', type);
      }
      node.tell('/elders/light', 'fly'); // a dead letter
      await page.click('button[data-tab="messages"]');
      await expect.poll(() => page.locator('svg.seq g.lane').count()).toBeGreaterThanOrEqual(7);
      await expect.poll(() => page.locator('svg.seq g.msg.dead').count()).toBeGreaterThan(0);
      // The page never grows wider than the window; the lanes fit the panel or it scrolls.
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
      const canvas = page.locator('.sequence-canvas');
      const cbox = (await canvas.boundingBox())!;
      expect(cbox.x + cbox.width).toBeLessThanOrEqual(1280);
      const fit = await canvas.evaluate((c) => ({ scroll: c.scrollWidth, client: c.clientWidth }));
      const lanes = await page.locator('svg.seq g.lane').evaluateAll((gs) => gs.map((g) => g.getBoundingClientRect().right));
      if (fit.scroll <= fit.client) for (const right of lanes) expect(right).toBeLessThanOrEqual(cbox.x + cbox.width);
      else expect(fit.scroll).toBeGreaterThanOrEqual(Math.max(...lanes) - cbox.x); // reachable by scrolling
      // Every arrow has its label.
      const texts = await page.locator('svg.seq g.msg text.label').allTextContents();
      expect(texts.length).toBe(await page.locator('svg.seq g.msg').count());
      expect(texts.every((t) => t.trim().length > 0)).toBe(true);
      // The first row is below the sticky lane heads, and the heads stay on top when scrolled.
      // Measured in one page turn each: the live view re-renders as messages come, and two
      // separate measurements could straddle a re-render (an element detached in between).
      const layout = (scrollTo: 'top' | 'bottom') =>
        page.evaluate((where) => {
          const c = document.querySelector('.sequence-canvas')!;
          c.scrollTop = where === 'top' ? 0 : c.scrollHeight;
          const head = document.querySelector('.sequence-head')!.getBoundingClientRect();
          const label = document.querySelector('svg.seq g.msg text.label')!.getBoundingClientRect();
          return { headTop: head.top, headBottom: head.bottom, labelTop: label.top };
        }, scrollTo);
      const top = await layout('top');
      expect(top.labelTop).toBeGreaterThanOrEqual(top.headBottom);
      const bottom = await layout('bottom');
      expect(Math.abs(bottom.headTop - cbox.y)).toBeLessThan(2);
      // Conversations never take the dead letters' red.
      const colours = await page.locator('svg.seq g.msg[data-corr]:not(.dead)').evaluateAll((gs) => gs.map((g) => (g as SVGElement).style.getPropertyValue('--c')));
      expect(colours.length).toBeGreaterThan(0);
      for (const c of colours) {
        const hue = Number(/hsl\((\d+)/.exec(c)?.[1]);
        expect(hue).toBeGreaterThanOrEqual(60);
        expect(hue).toBeLessThanOrEqual(300);
      }
      // Lanes in tree order, the same after a reload.
      const order = () => page.locator('svg.seq g.lane').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-lane')!));
      const before = await order();
      const treeOrder = await page.locator('tr.actor').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-path')!));
      const actors = before.filter((l) => !l.startsWith('@'));
      expect(actors).toEqual([...actors].sort((a, b) => treeOrder.indexOf(a) - treeOrder.indexOf(b)));
      await page.reload();
      await page.click('button[data-tab="messages"]');
      await expect.poll(() => page.locator('svg.seq g.lane').count()).toBe(before.length);
      expect(await order()).toEqual(before);
    } finally {
      await page.setViewportSize({ width: 1440, height: 1000 });
    }
  });

  it('renders every main view to a screenshot (ELDERTREE_SCREENSHOTS=docs refreshes docs/)', async () => {
    const dir = process.env.ELDERTREE_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), 'eldertree-shots-'));
    mkdirSync(dir, { recursive: true });
    // Some traffic, a crash or two and a dead letter, so every view has something to show.
    const traffic = setInterval(() => {
      node.tell('/elders/sage', 'task.submit', { servant: `/elders/servants/servant-${1 + Math.floor(Math.random() * 3)}`, task: 'demo' });
      node.tell('/elders/light', Math.random() < 0.5 ? 'next' : 'countdown');
    }, 150);
    try {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 900));
        node.tell('/elders/servants/servant-1', 'crash');
      }
      node.tell('/elders/light', 'fly');
      await row('/elders/light').click();
      await page.click('button[data-tab="messages"]');
      await new Promise((r) => setTimeout(r, 1500));
      await page.screenshot({ path: join(dir, 'inspector-overview.png') });
      await page.click('#history-back');
      await page.click('#history-back');
      await page.screenshot({ path: join(dir, 'inspector-history.png') });
      await page.click('#history-live');
      for (const tab of ['dead-letters', 'incidents', 'charts']) {
        await page.click(`button[data-tab="${tab}"]`);
        await new Promise((r) => setTimeout(r, 400));
        await page.locator('section.bottom').screenshot({ path: join(dir, `inspector-${tab}.png`) });
      }
    } finally {
      clearInterval(traffic);
    }
    for (const name of ['overview', 'history', 'dead-letters', 'incidents', 'charts']) {
      const png = readFileSync(join(dir, `inspector-${name}.png`));
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.byteLength).toBeGreaterThan(5_000); // a drawn view, not an empty frame
    }
    expect(pageErrors).toEqual([]);
  });
});

describe('inspector page of a cluster running the Elder Tree with its demo load', () => {
  const runtime = fileURLToPath(new URL('../dist/runtime.js', import.meta.url));
  const tree = fileURLToPath(new URL('./fixtures/demo-cluster-tree.mjs', import.meta.url));
  let server: NatsServer;
  const procs: ChildProcess[] = [];
  let url = '';
  let cpage: Page;

  beforeAll(async () => {
    server = await startNatsServer();
    const port = await freePort();
    for (const name of ['n1', 'n2']) {
      const args = [runtime, tree, '--nats', server.url, '--node', name, '--log-level', 'warn', ...(name === 'n1' ? ['--inspect', String(port)] : [])];
      procs.push(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] }));
    }
    url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 150; i++) {
      const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    cpage = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    cpage.on('pageerror', (e) => pageErrors.push(e.message));
    cpage.setDefaultTimeout(15_000);
  }, 30_000);

  afterAll(async () => {
    await cpage?.close();
    await Promise.all(
      procs.map((p) => {
        if (p.exitCode !== null || p.signalCode !== null) return undefined;
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        return exited;
      }),
    );
    await server?.stop(true);
  });

  it("shows the user's tree: no placement guards or heralds, one row per actor, standbys as a badge", async () => {
    await cpage.goto(url);
    const rows = cpage.locator('tr.actor');
    // Both nodes heard, the singletons placed (the claude elder runs on one node, stands by on the other).
    await expect
      .poll(async () => (await cpage.locator('tr[data-path="/grand-elder/claude-elder"] .standbys').textContent()) ?? '', { timeout: 20_000 })
      .toMatch(/^standby n[12]$/);
    const paths = await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute('data-path')!));
    expect(paths.filter((p) => p.includes('_placed_') || p === '/grand-elder/herald')).toEqual([]);
    expect(new Set(paths).size).toBe(paths.length); // one row per actor
    expect(paths[0]).toBe('/grand-elder');
    // Spec order: the claude elder and its sages right under the root, the servants after the council.
    expect(paths.indexOf('/grand-elder/claude-elder')).toBeLessThan(paths.indexOf('/grand-elder/elder-council'));
    expect(paths.indexOf('/grand-elder/elder-council')).toBeLessThan(paths.indexOf('/grand-elder/servants'));
    expect(paths).toEqual(expect.arrayContaining(['/grand-elder/commander', '/grand-elder/claude-elder/task-sage', '/grand-elder/demo']));
    // The root runs on both nodes: one row, the other copy a badge.
    expect(await cpage.locator('tr[data-path="/grand-elder"] .copies').textContent()).toBe('+1');
    if (process.env.ELDERTREE_SCREENSHOTS) {
      await cpage.locator('tr[data-path="/grand-elder/servants/pool"]').click();
      await cpage.locator('svg.statechart').waitFor();
      await new Promise((r) => setTimeout(r, 1500));
      await cpage.screenshot({ path: join(process.env.ELDERTREE_SCREENSHOTS, 'inspector-cluster.png') });
    }
  });

  it("a crash of one of the demo's servants is a dead letter", async () => {
    await cpage.click('button[data-tab="dead-letters"]');
    const crash = cpage.locator('tr.dead-letter[data-reason="crashed"]', { hasText: '/grand-elder/servants/servant-' }).first();
    await crash.waitFor({ timeout: 30_000 });
    expect(await crash.textContent()).toMatch(/crashed on an internal event.*injected servant crash/);
    await cpage.click('button[data-tab="messages"]');
    await expect.poll(() => cpage.locator('svg.seq g.msg.dead').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(pageErrors).toEqual([]);
  });
});
