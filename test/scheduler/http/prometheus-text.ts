// A strict parser of Prometheus' text exposition format (version 0.0.4), for the metrics tests:
// every sample belongs to a family declared by # TYPE before it, names and labels are well
// formed, label values unescape (\\, \", \n) and nothing else, values are floats (+Inf, -Inf,
// NaN too), no series appears twice, and each histogram's buckets are cumulative, end at +Inf
// and agree with its _count. Anything else throws, saying which line is wrong.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
/** Sample-name suffixes that belong to a family of each type. */
const SUFFIXES: Record<MetricType, string[]> = { counter: [''], gauge: [''], untyped: [''], histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  text.split('\n').forEach((line, index) => {
    const where = `line ${index + 1} (${JSON.stringify(line.slice(0, 120))})`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m === null) return; // a comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`${where}: ${name} is not a metric name`);
      const family = families.get(name) ?? { name, type: 'untyped' as MetricType, help: '', samples: [] };
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type ${rest}`);
        if (family.samples.length > 0) throw new Error(`${where}: TYPE after samples of ${name}`);
        family.type = rest as MetricType;
      } else {
        family.help = rest.replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
      }
      families.set(name, family);
      return;
    }
    const sample = parseSample(line, where);
    const family = familyOf(families, sample.name);
    if (family === undefined) throw new Error(`${where}: no # TYPE declared ${sample.name}'s family before it`);
    const key = `${sample.name}{${Object.entries(sample.labels).sort().map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
    if (seen.has(key)) throw new Error(`${where}: series ${key} appears twice`);
    seen.add(key);
    family.samples.push(sample);
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

function familyOf(families: Map<string, Family>, sample: string): Family | undefined {
  for (const family of families.values()) {
    for (const suffix of SUFFIXES[family.type]) if (sample === family.name + suffix) return family;
  }
  return undefined;
}

function parseSample(line: string, where: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)( -?\d+)?$/.exec(line);
  if (m === null) throw new Error(`${where}: not a sample line`);
  const labels: Record<string, string> = {};
  if (m[2] !== undefined) {
    let rest = m[2].slice(1, -1);
    while (rest.length > 0) {
      const l = /^([^=]+)="((?:[^"\\]|\\.)*)"(,?)/.exec(rest);
      if (l === null) throw new Error(`${where}: bad labels at ${JSON.stringify(rest)}`);
      const [all, name, raw, comma] = l as unknown as [string, string, string, string];
      if (!LABEL.test(name)) throw new Error(`${where}: ${name} is not a label name`);
      if (name in labels) throw new Error(`${where}: label ${name} twice`);
      if (/\\[^\\"n]/.test(raw)) throw new Error(`${where}: bad escape in label ${name}`);
      labels[name] = raw.replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(all.length);
      if (comma === '' && rest.length > 0) throw new Error(`${where}: labels not separated by commas`);
    }
  }
  return { name: m[1]!, labels, value: parseValue(m[3]!, where) };
}

function parseValue(text: string, where: string): number {
  // Prometheus reads values with Go's ParseFloat, which ignores case in NaN and Inf;
  // prom-client writes NaN as "Nan" (an event-loop lag with no samples yet).
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`${where}: ${text} is not a number`);
  return Number(text);
}

/** Buckets per series (labels but le): cumulative, ending at +Inf, equal to _count. */
function checkHistogram(family: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count: number | null }>();
  const keyOf = (labels: Record<string, string>): string => JSON.stringify(Object.entries(labels).filter(([k]) => k !== 'le').sort());
  for (const s of family.samples) {
    const entry = series.get(keyOf(s.labels)) ?? { buckets: [], count: null };
    series.set(keyOf(s.labels), entry);
    if (s.name.endsWith('_bucket')) {
      if (s.labels.le === undefined) throw new Error(`${family.name}: a bucket without le`);
      entry.buckets.push([parseValue(s.labels.le, family.name), s.value]);
    } else if (s.name.endsWith('_count')) {
      entry.count = s.value;
    }
  }
  for (const [key, { buckets, count }] of series) {
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]![0] > buckets[i - 1]![0]) || buckets[i]![1] < buckets[i - 1]![1]) throw new Error(`${family.name}${key}: buckets not increasing and cumulative`);
    }
    if (buckets.at(-1)?.[0] !== Infinity || buckets.at(-1)?.[1] !== count) throw new Error(`${family.name}${key}: the +Inf bucket does not equal _count`);
  }
}

/** The value of one series: the sample named `name` whose labels include `labels`; exactly one must match. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = familyOf(families, name);
  if (family === undefined) throw new Error(`no metric ${name}`);
  const matches = family.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matches.length !== 1) throw new Error(`${matches.length} series of ${name} match ${JSON.stringify(labels)}`);
  return matches[0]!.value;
}
