// A job's life on one time axis (SVG): a lane per attempt on the node it ran on, a mark per
// checkpoint sized by its image's bytes (hover: size, pause, commit), a cross where an attempt
// failed or its node was lost, and a triangle where the next attempt restored, joined by a
// dashed line to the image it restored from. Plus a uPlot chart of image sizes and pauses.
'use strict';
(() => {
  const NS = 'http://www.w3.org/2000/svg';
  const LANE = 34;
  const LEFT = 170;
  const RIGHT = 16;
  const TOP = 22;

  function s(tag, attrs, ...children) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }
  /** A hover text (SVG <title>), as text. */
  const tip = (text) => s('title', {}, text);

  const FAILED = new Set(['failed', 'lost', 'unstarted']);

  function draw(box, view, fmt) {
    const attempts = view.attempts;
    const marks = view.checkpoints;
    if (attempts.length === 0) {
      box.replaceChildren(Object.assign(document.createElement('p'), { className: 'empty', textContent: 'Not placed on a node yet.' }));
      return;
    }
    const now = Date.now();
    const t0 = Math.min(...attempts.map((a) => a.startedAt));
    const t1 = Math.max(t0 + 1000, ...attempts.map((a) => a.endedAt ?? now), ...marks.map((m) => m.at));
    const width = Math.max(480, box.clientWidth || 900);
    const height = TOP + attempts.length * LANE + 24;
    const x = (t) => LEFT + ((t - t0) / (t1 - t0)) * (width - LEFT - RIGHT);
    const laneY = new Map(attempts.map((a, i) => [a.number, TOP + i * LANE + LANE / 2]));
    const maxBytes = Math.max(1, ...marks.map((m) => m.bytes));
    const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'tl', role: 'img', 'aria-label': `timeline of job ${view.job.id}` });
    // Time axis: start, middle, end.
    for (const f of [0, 0.5, 1]) {
      const t = t0 + f * (t1 - t0);
      svg.append(s('line', { x1: x(t), x2: x(t), y1: TOP - 6, y2: height - 20, class: 'tl-grid' }));
      svg.append(s('text', { x: x(t), y: height - 6, class: 'tl-axis', 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle' }, new Date(t).toLocaleTimeString()));
    }
    for (const a of attempts) {
      const y = laneY.get(a.number);
      const end = a.endedAt ?? now;
      const outcome = a.outcome ?? 'running';
      svg.append(s('text', { x: 8, y: y + 4, class: 'tl-label' }, `attempt ${a.number} · ${a.node}`));
      svg.append(s('rect', { x: x(a.startedAt), y: y - 7, width: Math.max(2, x(end) - x(a.startedAt)), height: 14, rx: 3, class: `tl-lane tl-${/^[a-z]+$/.test(outcome) ? outcome : 'other'}` },
        tip(`attempt ${a.number} on node ${a.node}: ${fmt.time(a.startedAt)} – ${a.endedAt ? fmt.time(a.endedAt) : 'running'} (${outcome})${a.reason ? `\n${a.reason}` : ''}`)));
      if (a.restoredFrom !== null) {
        const at = a.restoredAt ?? a.startedAt;
        const from = marks.find((m) => m.sequence === a.restoredFrom);
        if (from && laneY.has(from.attempt)) {
          svg.append(s('line', { x1: x(from.at), y1: laneY.get(from.attempt), x2: x(at), y2: y, class: 'tl-restore-link' }));
        }
        svg.append(s('path', { d: `M ${x(at)} ${y - 11} l 7 11 l -7 11 z`, class: 'tl-restore', 'data-attempt': a.number },
          tip(`attempt ${a.number} restored from image ${a.restoredFrom} at ${fmt.time(at)}`)));
      }
      if (FAILED.has(outcome)) {
        const fx = x(end);
        svg.append(s('path', { d: `M ${fx - 6} ${y - 6} L ${fx + 6} ${y + 6} M ${fx - 6} ${y + 6} L ${fx + 6} ${y - 6}`, class: 'tl-failure', 'data-attempt': a.number },
          tip(`${outcome === 'lost' ? 'node lost' : outcome} at ${fmt.time(end)}${a.reason ? `: ${a.reason}` : ''}`)));
      }
    }
    for (const m of marks) {
      const y = laneY.get(m.attempt);
      if (y === undefined) continue;
      const r = 3 + 7 * Math.sqrt(m.bytes / maxBytes);
      const ratio = m.rawBytes > 0 && m.bytes > 0 ? `, ratio ${(m.rawBytes / m.bytes).toFixed(2)}` : '';
      const cost = m.pauseMs > 0 || m.commitMs > 0 ? `\npause ${fmt.ms(m.pauseMs)}, commit ${fmt.ms(m.commitMs)}` : '';
      svg.append(s('circle', { cx: x(m.at), cy: y, r: r.toFixed(1), class: `tl-checkpoint ${m.incremental ? 'incremental' : 'full'}`, 'data-sequence': m.sequence },
        tip(`image ${m.sequence} (${m.incremental ? 'incremental' : 'full'}): ${fmt.bytes(m.bytes)}${ratio}${cost}\nstored ${fmt.time(m.at)} from node ${m.node}${m.stored ? '' : ' (since removed)'}`)));
    }
    const legend = document.createElement('p');
    legend.className = 'legend';
    legend.textContent = '● checkpoint (size: image bytes; filled: full, hollow: incremental)   ✕ failure or lost node   ▶ restore (dashed: from which image)   hover for details';
    box.replaceChildren(svg, legend);
  }

  /** Image bytes and pause per checkpoint, by sequence (uPlot); returns the plot to reuse. */
  function chart(box, marks, previous) {
    if (previous) previous.destroy();
    box.replaceChildren();
    if (typeof uPlot !== 'function' || marks.length < 2) return null;
    const data = [marks.map((m) => m.sequence), marks.map((m) => m.bytes / 2 ** 20), marks.map((m) => m.pauseMs)];
    return new uPlot({
      width: Math.max(480, box.clientWidth || 900),
      height: 180,
      title: 'Checkpoints: image size and pause',
      scales: { x: { time: false }, ms: {} },
      axes: [{ label: 'image sequence', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }, { label: 'MiB' }, { side: 1, scale: 'ms', label: 'pause ms', grid: { show: false } }],
      series: [{ label: 'image' }, { label: 'size MiB', stroke: '#2f6fdf', points: { show: true } }, { label: 'pause ms', scale: 'ms', stroke: '#d9822b', points: { show: true } }],
    }, data, box);
  }

  window.crTimeline = { draw, chart };
})();
