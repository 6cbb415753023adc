/**
 * Path templates with Python str.format placeholders, as Keras's ModelCheckpoint fills them:
 * `{epoch}`, `{epoch:02d}`, `{val_loss:.4f}`, `{loss:.2e}`, and `{{` or `}}` for a literal brace.
 * A format spec is an optional 0 (pad with zeros), an optional width, an optional .precision
 * and a type: d (integer), f (fixed point), e (exponent) or none. Without a type, a value is
 * written as JavaScript's String() writes it (Python's str() writes 1.0 and 1e-05 where this
 * writes 1 and 0.00001).
 */
import { ValueError, formatValue } from '../errors.js';

interface Placeholder {
  name: string;
  zeroPad: boolean;
  width: number;
  precision: number | undefined;
  type: '' | 'd' | 'f' | 'e';
}

/** A parsed template: literal text alternating with placeholders. */
export interface FilepathTemplate {
  source: string;
  parts: (string | Placeholder)[];
}

const FIELD = /^([A-Za-z_][A-Za-z0-9_]*)(?::(0?)(\d*)(?:\.(\d+))?([dfe]?))?$/;

/** Parses `source`; throws a ValueError naming the bad placeholder. */
export function parseFilepathTemplate(source: string, where: string): FilepathTemplate {
  const parts: (string | Placeholder)[] = [];
  let text = '';
  let i = 0;
  while (i < source.length) {
    const char = source[i];
    if ((char === '{' || char === '}') && source[i + 1] === char) {
      text += char;
      i += 2;
      continue;
    }
    if (char === '}') throw new ValueError(`${where}: filepath ${formatValue(source)} has a single '}' at index ${i}; write '}}' for a literal brace.`);
    if (char !== '{') {
      text += char;
      i++;
      continue;
    }
    const end = source.indexOf('}', i);
    const field = end < 0 ? source.slice(i) : source.slice(i + 1, end);
    const match = end < 0 ? null : FIELD.exec(field);
    if (match === null) {
      throw new ValueError(
        `${where}: filepath ${formatValue(source)} has an invalid placeholder ${formatValue(end < 0 ? field : `{${field}}`)}; ` +
          "use {name} or {name:spec} with a spec such as 02d, .4f or .2e, and '{{' for a literal brace.",
      );
    }
    if (text !== '') parts.push(text);
    text = '';
    const [, name, zero, width, precision, type] = match;
    parts.push({ name, zeroPad: zero === '0', width: width === '' || width === undefined ? 0 : Number(width), precision: precision === undefined ? undefined : Number(precision), type: (type ?? '') as Placeholder['type'] });
    i = end + 1;
  }
  if (text !== '') parts.push(text);
  return { source, parts };
}

/** Python's exponent form: at least two exponent digits, as in 1.50e-05. */
function exponential(value: number, precision: number): string {
  return value.toExponential(precision).replace(/e([+-])(\d)$/, 'e$10$2');
}

function formatNumber(value: number, field: Placeholder, source: string, where: string): string {
  let text: string;
  if (field.type === 'd') {
    if (!Number.isInteger(value)) {
      throw new ValueError(`${where}: filepath ${formatValue(source)} formats ${field.name} = ${value} with 'd', which needs an integer; use .4f or .2e for a metric.`);
    }
    text = String(Math.abs(value));
  } else if (field.type === 'f') {
    text = Number.isFinite(value) ? Math.abs(value).toFixed(field.precision ?? 6) : String(Math.abs(value));
  } else if (field.type === 'e') {
    text = Number.isFinite(value) ? exponential(Math.abs(value), field.precision ?? 6) : String(Math.abs(value));
  } else {
    text = String(Math.abs(value));
  }
  const sign = value < 0 || Object.is(value, -0) ? '-' : '';
  const padding = Math.max(0, field.width - sign.length - text.length);
  return field.zeroPad ? sign + '0'.repeat(padding) + text : ' '.repeat(padding) + sign + text;
}

/** Fills the template; throws a ValueError naming a placeholder that `values` lacks. */
export function formatFilepath(template: FilepathTemplate, values: Record<string, number>, where: string): string {
  let out = '';
  for (const part of template.parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const value = values[part.name];
    if (typeof value !== 'number') {
      throw new ValueError(`${where}: filepath ${formatValue(template.source)} names {${part.name}}, which is not in the epoch logs; the keys are ${Object.keys(values).join(', ')}.`);
    }
    out += formatNumber(value, part, template.source, where);
  }
  return out;
}
