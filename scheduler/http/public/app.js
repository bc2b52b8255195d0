// The dashboard's pages: jobs, a job (timeline, images, log, actions), nodes, the cluster.
// Data comes from /api as JSON and live from /api/live (server-sent events). Every value is
// put into the page as text (h() below never parses markup), so nothing a user named runs.
'use strict';
(() => {
  const main = document.getElementById('main');
  let session = null;
  let stream = null;

  /** An element with attributes and children; strings become text nodes. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }

  const fmt = {
    bytes(n) {
      if (!(n > 0)) return '0 B';
      const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      const i = Math.min(units.length - 1, Math.floor(Math.log2(n) / 10));
      return `${(n / 2 ** (10 * i)).toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
    },
    age(ms) {
      if (!(ms > 0)) return '';
      const s = Math.max(0, (Date.now() - ms) / 1000);
      if (s < 60) return `${Math.floor(s)} s`;
      if (s < 3600) return `${Math.floor(s / 60)} min`;
      if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
      return `${(s / 86400).toFixed(1)} d`;
    },
    time(ms) {
      return ms > 0 ? new Date(ms).toLocaleString() : '';
    },
    ms(v) {
      return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`;
    },
    pct(p) {
      return `${Math.round(Math.max(0, Math.min(1, p)) * 100)}%`;
    },
  };
  window.crFormat = fmt;

  function progress(p) {
    // Set through the DOM, not a style attribute: the page's Content-Security-Policy allows no inline styles.
    const bar = h('span', { class: 'bar' });
    bar.style.width = fmt.pct(p);
    return h('span', { class: 'progress', title: fmt.pct(p) }, h('span', { class: 'track' }, bar), h('span', { class: 'pct' }, fmt.pct(p)));
  }

  function badge(state) {
    return h('span', { class: `state state-${/^[a-z]+$/.test(state) ? state : 'other'}` }, state);
  }

  async function api(method, url, body) {
    const res = await fetch(url, {
      method,
      credentials: 'same-origin',
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(method !== 'GET' ? { 'x-csrf-token': session.csrf } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status === 401) location.replace('/login');
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || `${res.status}`);
    return data;
  }

  /** Asks before an action, in a dialog of the page. */
  function confirmAction(text) {
    const dialog = document.getElementById('confirm');
    document.getElementById('confirm-text').textContent = text;
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.returnValue = '';
      dialog.showModal();
    });
  }

  function notice(text, kind) {
    const el = h('p', { class: `notice ${kind || ''}`, role: 'status' }, text);
    main.prepend(el);
    setTimeout(() => el.remove(), 8000);
  }

  /** One live stream at a time: the page's view. */
  function live(view, id, onView, onLog) {
    if (stream) stream.close();
    const dot = document.getElementById('live');
    stream = new EventSource(`/api/live?view=${view}${id ? `&id=${id}` : ''}`);
    stream.addEventListener('open', () => dot.classList.add('on'));
    stream.addEventListener('error', () => dot.classList.remove('on'));
    stream.addEventListener('view', (e) => onView(JSON.parse(e.data)));
    if (onLog) stream.addEventListener('log', (e) => onLog(JSON.parse(e.data)));
    stream.addEventListener('signed-out', () => location.replace('/login'));
  }

  // --- jobs ---
  const jobsState = { state: '', owner: '', sort: 'id', desc: true, data: [], more: false };
  const COLUMNS = [
    ['id', 'ID'], ['name', 'Name'], ['owner', 'Owner'], ['state', 'State'], ['node', 'Node'],
    ['progress', 'Progress'], ['attempts', 'Attempts'], ['images', 'Images'], ['submittedAt', 'Age'],
  ];

  function jobsPage() {
    const stateSel = h('select', { id: 'filter-state', onchange: (e) => { jobsState.state = e.target.value; drawJobs(); } },
      h('option', { value: '' }, 'all states'), ...['queued', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => h('option', { value: s }, s)));
    const ownerSel = h('select', { id: 'filter-owner', onchange: (e) => { jobsState.owner = e.target.value; drawJobs(); } }, h('option', { value: '' }, 'all owners'));
    stateSel.value = jobsState.state;
    main.replaceChildren(h('h1', {}, 'Jobs'), h('div', { class: 'filters' }, h('label', {}, 'State ', stateSel), h('label', {}, 'Owner ', ownerSel)), h('div', { id: 'jobs' }));
    live('jobs', null, (data) => {
      jobsState.data = data.jobs;
      jobsState.more = data.more;
      const owners = [...new Set(data.jobs.map((j) => j.owner))].sort();
      const keep = jobsState.owner;
      ownerSel.replaceChildren(h('option', { value: '' }, 'all owners'), ...owners.map((o) => h('option', { value: o }, o || '(none)')));
      ownerSel.value = owners.includes(keep) ? keep : '';
      jobsState.owner = ownerSel.value;
      drawJobs();
    });
  }

  function drawJobs() {
    const { sort, desc } = jobsState;
    const rows = jobsState.data
      .filter((j) => (!jobsState.state || j.state === jobsState.state) && (!jobsState.owner || j.owner === jobsState.owner))
      .sort((a, b) => {
        const x = a[sort], y = b[sort];
        const c = typeof x === 'number' ? x - y : String(x).localeCompare(String(y));
        return desc ? -c : c;
      });
    const head = h('tr', {}, COLUMNS.map(([key, label]) => h('th', {
      class: `sortable${key === sort ? (desc ? ' desc' : ' asc') : ''}`,
      'data-sort': key,
      onclick: () => { jobsState.desc = jobsState.sort === key ? !jobsState.desc : false; jobsState.sort = key; drawJobs(); },
    }, label)));
    const body = rows.map((j) => h('tr', { 'data-job': j.id },
      h('td', { class: 'num' }, h('a', { href: `#/job/${j.id}` }, String(j.id))),
      h('td', { class: 'name' }, h('a', { href: `#/job/${j.id}` }, j.name)),
      h('td', {}, j.owner),
      h('td', {}, badge(j.state), j.pending ? h('small', {}, ` ${j.pending}`) : null),
      h('td', {}, j.node),
      h('td', {}, progress(j.progress)),
      h('td', { class: 'num' }, j.attempts),
      h('td', { class: 'num' }, j.images),
      h('td', { class: 'num', title: fmt.time(j.submittedAt) }, fmt.age(j.submittedAt)),
    ));
    const box = document.getElementById('jobs');
    // Like `cr-scheduler list`, the page holds the newest jobs; it says so when older ones were left out.
    const more = jobsState.more ? h('p', { id: 'jobs-more', class: 'empty' }, `The newest ${jobsState.data.length} jobs are shown; "cr-scheduler list --limit 0" lists them all.`) : null;
    if (box) box.replaceChildren(rows.length ? h('table', { class: 'grid' }, h('thead', {}, head), h('tbody', {}, body)) : h('p', { class: 'empty' }, 'No jobs to show.'), ...(more ? [more] : []));
  }

  // --- a job ---
  function jobPage(id) {
    let lastId = 0;
    const log = h('pre', { id: 'log', class: 'log' });
    const header = h('div', { id: 'job-head' });
    main.replaceChildren(
      h('p', {}, h('a', { href: '#/jobs' }, '← Jobs')),
      header,
      h('h2', {}, 'Timeline'),
      h('div', { id: 'timeline', class: 'timeline' }),
      h('div', { id: 'chart' }),
      h('h2', {}, 'Images'),
      h('div', { id: 'images' }),
      h('h2', {}, 'Log'),
      log,
    );
    let plot = null;
    live('job', id, (view) => {
      if (view === null) {
        main.replaceChildren(h('p', {}, h('a', { href: '#/jobs' }, '← Jobs')), h('div', { id: 'job-head' }, h('h1', {}, `Job ${id}`), h('p', { class: 'error' }, 'No such job, or not one you may see.')));
        return;
      }
      drawJobHead(header, view);
      window.crTimeline.draw(document.getElementById('timeline'), view, fmt);
      plot = window.crTimeline.chart(document.getElementById('chart'), view.checkpoints, plot);
      drawImages(view.images);
    }, (lines) => {
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      for (const l of lines) {
        if (l.id <= lastId) continue;
        lastId = l.id;
        log.append(h('span', { class: `line ${l.kind === 'event' ? 'event' : ''}` }, `${new Date(l.at).toLocaleTimeString()}  a${l.attempt}  ${l.text}\n`));
      }
      if (atBottom) log.scrollTop = log.scrollHeight;
    });
  }

  function drawJobHead(box, view) {
    const j = view.job;
    const ended = ['succeeded', 'failed', 'cancelled'].includes(j.state);
    const act = async (what, text, url) => {
      if (!(await confirmAction(text))) return;
      try {
        await api('POST', url);
        notice(`${what}: done`);
      } catch (err) {
        notice(`${what}: ${err.message}`, 'error');
      }
    };
    const actions = view.mayAct && !ended ? h('div', { class: 'actions' },
      h('button', { id: 'checkpoint', type: 'button', disabled: j.state !== 'running', onclick: () => act('Checkpoint', `Checkpoint job ${j.id} (${j.name}) now?`, `/api/jobs/${j.id}/checkpoint`) }, 'Checkpoint now'),
      h('button', { id: 'cancel', type: 'button', class: 'danger', onclick: () => act('Cancel', `Cancel job ${j.id} (${j.name})? It stops and does not resume.`, `/api/jobs/${j.id}/cancel`) }, 'Cancel job'),
    ) : null;
    const rows = [
      ['State', [badge(j.state), j.pending ? ` (${j.pending} pending)` : '']],
      ['Progress', [progress(j.progress), j.message ? ` ${j.message}` : '']],
      ['Owner', j.owner], ['Node', j.node], ['Attempts', `${j.attempts} (retries used ${j.retriesUsed} of ${j.retries}, moves ${j.moves})`],
      ['Priority', j.priority], ['Checkpoint interval', fmt.ms(j.intervalMs)], ['Full image every', `${j.fullEvery} checkpoints`],
      ['Submitted', fmt.time(j.submittedAt)], ['Started', fmt.time(j.startedAt)], ['Finished', fmt.time(j.finishedAt)],
      ['Arguments', h('code', {}, j.args)],
      ...(j.result ? [['Result', h('code', {}, j.result)]] : []),
      ...(j.error ? [['Error', h('code', {}, j.error)]] : []),
    ];
    box.replaceChildren(...[
      h('h1', {}, `Job ${j.id}: `, h('span', { id: 'job-name' }, j.name)),
      actions,
      h('table', { class: 'props' }, h('tbody', {}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))))),
    ].filter(Boolean));
  }

  function drawImages(images) {
    const box = document.getElementById('images');
    if (!images.length) return box.replaceChildren(h('p', { class: 'empty' }, 'The scheduler holds no image of this job.'));
    box.replaceChildren(h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, ['Sequence', 'Attempt', 'Size', 'Ratio', 'Kind', 'From node', 'Stored', 'Where'].map((c) => h('th', {}, c)))),
      h('tbody', {}, images.map((i) => h('tr', {},
        h('td', { class: 'num' }, i.sequence), h('td', { class: 'num' }, i.attempt), h('td', { class: 'num' }, fmt.bytes(i.bytes)),
        h('td', { class: 'num' }, i.rawBytes > 0 && i.bytes > 0 ? (i.rawBytes / i.bytes).toFixed(2) : ''),
        h('td', {}, i.incremental ? `incremental (on ${i.bases.join(', ')})` : 'full'),
        h('td', {}, i.node), h('td', { title: fmt.time(i.createdAt) }, fmt.age(i.createdAt)), h('td', {}, h('code', {}, i.where)),
      ))),
    ));
  }

  // --- nodes ---
  function nodesPage() {
    main.replaceChildren(h('h1', {}, 'Nodes'), h('div', { id: 'nodes' }));
    live('nodes', null, (data) => {
      const admin = session.role === 'admin';
      const drain = async (n) => {
        const undo = n.draining;
        if (!(await confirmAction(undo ? `Undrain node ${n.name}? It takes new jobs again.` : `Drain node ${n.name}? Its jobs checkpoint and move; it takes no new ones.`))) return;
        try {
          await api('POST', `/api/nodes/${encodeURIComponent(n.name)}/drain`, { undo });
        } catch (err) {
          notice(`Drain: ${err.message}`, 'error');
        }
      };
      document.getElementById('nodes').replaceChildren(data.nodes.length ? h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['Node', 'State', 'Slots', 'Running', 'Heartbeat', 'Version', ...(admin ? [''] : [])].map((c) => h('th', {}, c)))),
        h('tbody', {}, data.nodes.map((n) => h('tr', { 'data-node': n.name },
          h('td', {}, n.name), h('td', {}, badge(n.state)), h('td', { class: 'num' }, n.slots),
          h('td', {}, `${n.running} `, n.jobs.map((id) => h('a', { href: `#/job/${id}`, class: 'chip' }, `#${id}`))),
          h('td', { class: 'num', title: fmt.time(n.lastSeen) }, `${fmt.age(n.lastSeen)} ago`), h('td', {}, n.version),
          admin ? h('td', {}, h('button', { type: 'button', class: 'drain', onclick: () => drain(n) }, n.draining ? 'Undrain' : 'Drain')) : null,
        ))),
      ) : h('p', { class: 'empty' }, 'No node has registered.'));
    });
  }

  // --- the cluster ---
  function clusterPage() {
    main.replaceChildren(h('h1', {}, 'Cluster'), h('div', { id: 'cluster' }));
    live('cluster', null, (c) => {
      document.getElementById('cluster').replaceChildren(h('table', { class: 'props' }, h('tbody', {},
        h('tr', {}, h('th', {}, 'Scheduler version'), h('td', {}, c.version)),
        h('tr', {}, h('th', {}, 'Schedulers'), h('td', { id: 'leadership' }, c.leadership)),
        h('tr', {}, h('th', {}, 'Storage'), h('td', { id: 'storage', class: c.degraded ? 'error' : '' }, c.degraded ? c.storage : 'healthy')),
        h('tr', {}, h('th', {}, 'Nodes'), h('td', {}, c.nodes)),
        h('tr', {}, h('th', {}, 'Jobs you see'), h('td', {}, Object.keys(c.jobs).length ? Object.entries(c.jobs).map(([s, n]) => h('span', { class: 'chip' }, `${s} ${n}`)) : 'none')),
      )));
    });
  }

  function route() {
    const [, page, id] = /^#\/(\w+)(?:\/(\d+))?/.exec(location.hash) || [];
    for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.nav === (page === 'job' ? 'jobs' : page || 'jobs'));
    if (page === 'job' && id) jobPage(Number(id));
    else if (page === 'nodes') nodesPage();
    else if (page === 'cluster') clusterPage();
    else jobsPage();
  }

  async function start() {
    const res = await fetch('/api/session', { credentials: 'same-origin' });
    if (!res.ok) return location.replace('/login');
    session = await res.json();
    document.getElementById('who').textContent = `${session.role} · ${session.via}`;
    document.getElementById('signout').addEventListener('click', async () => {
      await api('POST', '/logout').catch(() => undefined);
      location.replace('/login');
    });
    window.addEventListener('hashchange', route);
    route();
  }
  start();
})();
