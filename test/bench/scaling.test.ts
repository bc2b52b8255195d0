// The growth-curve bench's arithmetic and its plot (the measurements are the bench's own run).
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { exponent, plot, type Point } from '../../bench/scaling.js';
import { tempDir } from '../runner/helpers.js';

test('A step that doubles the time for twice the size grows with exponent 1, four times with 2; steps under the noise floor are not judged.', (t) => {
  t.is(exponent({ x: 64, y: 100 }, { x: 128, y: 200 }), 1);
  t.is(exponent({ x: 10, y: 10 }, { x: 100, y: 1000 }), 2);
  t.is(exponent({ x: 1, y: 50 }, { x: 10, y: 50 }), 0);
  t.is(exponent({ x: 1, y: 1 }, { x: 10, y: 4 }), null);
});

test('The plot is an SVG drawn by Vega-Lite with a panel per dimension and a curve per measure, replacing the file whole.', async (t) => {
  const dir = tempDir(t, 'scaling-plot');
  const file = path.join(dir, 'scaling.svg');
  fs.writeFileSync(file, 'old');
  const points: Point[] = [
    { dimension: 'region size, MiB', x: 64, label: '64 MiB', pauseMs: 2, commitMs: 60, restartMs: 30 },
    { dimension: 'region size, MiB', x: 256, label: '256 MiB', pauseMs: 3, commitMs: 240, restartMs: 120 },
    { dimension: 'states', x: 10, label: '10', pauseMs: 0.4, commitMs: 20, restartMs: 5 },
    { dimension: 'states', x: 1000, label: '1e3', pauseMs: 4, commitMs: 90, restartMs: 40 },
  ];
  await plot(points, file);
  const svg = fs.readFileSync(file, 'utf8');
  t.regex(svg, /^<svg /);
  for (const text of ['region size, MiB', 'states', 'pause', 'commit', 'restart']) t.true(svg.includes(`>${text}<`), text);
  t.deepEqual(fs.readdirSync(dir), ['scaling.svg'], 'no temp file is left');
});
