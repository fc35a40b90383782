// The inspector page in a real browser: Debian's Chromium, headless, driven by playwright-core.
// ELDERTREE_SCREENSHOTS=docs also saves the README's screenshots of the main views there.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Node } from '../src/index.js';
import { LocalSource, startInspector, type Inspector } from '../src/inspector/index.js';
import { inspectorTree, launchChromium } from './inspector-fixtures.js';

let node: Node;
let inspector: Inspector;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  node = await Node.start({ tree: inspectorTree(), nodeId: 'n1' });
  inspector = await startInspector({ source: new LocalSource(node), port: 0 });
  chromium = await launchChromium();
  browser = chromium.browser;
  page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
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
    expect(await page.locator('tr.actor').count()).toBe(7);
    expect(await page.locator('.node-card[data-node="n1"] .status').textContent()).toBe('up');
    expect(await row('/elders/servants').locator('.status .badge').textContent()).toBe('running');
    expect(await row('/elders/servants/servant-1').locator('.restarts .gauge').textContent()).toBe('0/10');
  });

  it('a crashed servant shows its restart count rise, live, without reload', async () => {
    const restarts = row('/elders/servants/servant-1').locator('.restarts .n');
    expect(await restarts.textContent()).toBe('0');
    node.tell('/elders/servants/servant-1', 'crash');
    await expect.poll(() => restarts.textContent()).toBe('1');
    await expect.poll(() => row('/elders/servants/servant-1').locator('.inc').textContent()).toBe('2');
    expect(await row('/elders/servants/servant-1').locator('.restarts .gauge').textContent()).toBe('1/10');
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
    expect(await state('green').locator('text.enabled').textContent()).toBe('next → yellow [calm]');
  });

  it('a viewer may not send; an operator sends an event from the page and sees the state change', async () => {
    await page.selectOption('#event-type', 'next');
    await page.click('#send-event');
    await expect.poll(() => page.locator('.action-result').textContent()).toContain('forbidden: role "viewer" may not send');
    await page.selectOption('#role', 'operator');
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
    expect(await page.locator('svg.seq .lane-name').allTextContents()).toEqual(expect.arrayContaining(['/elders/sage', '…/servants/servant-3']));
    await page.click('button[data-tab="charts"]');
    await expect.poll(() => page.locator('figure.chart').count()).toBe(2);
    expect(pageErrors).toEqual([]);
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
