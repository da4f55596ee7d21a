/** Semantic checks of the outputs: `influxdb` and every `outputs` entry (URL, credentials, retry delays). */
import { redactUrlCredentials } from '../../internal/log/log.js';
import { formatDuration, parseDuration } from './duration.js';
import { line, obj, str, type Findings, type Raw } from './findings.js';

/** The `influxdb` section and every `outputs` entry, whose names must be unique. */
export function checkInflux(raw: Raw, f: Findings): void {
  checkInfluxSection(obj(raw.influxdb), 'influxdb', f);
  if (!Array.isArray(raw.outputs)) return;
  const seen = new Set<string>();
  raw.outputs.forEach((entry, i) => {
    const db = obj(entry);
    checkInfluxSection(db, `outputs[${i}]`, f);
    const name = str(db?.name);
    if (name === undefined) return;
    if (seen.has(name))
      f.errors.push(
        line(`outputs[${i}].name`, 'is used by an earlier output', JSON.stringify(name), 'a name unique among outputs'),
      );
    seen.add(name);
  });
}

function checkInfluxSection(db: Raw | undefined, at: string, f: Findings): void {
  if (!db || db.enabled === false) return;
  const url = str(db.url);
  if (url === undefined || url === '') {
    if (db.url === undefined || url === '')
      f.errors.push(
        line(
          `${at}.url`,
          at === 'influxdb' ? 'is required when the influxdb section is present' : 'is required',
          url === '' ? '"" (is the environment variable set?)' : 'nothing',
          'an http:// or https:// URL',
        ),
      );
  } else if (url.length > 2048) {
    f.errors.push(
      line(`${at}.url`, 'URL too long (max 2048 characters)', `${url.length} characters`, 'an http:// or https:// URL'),
    );
  } else {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      f.errors.push(
        line(
          `${at}.url`,
          'invalid URL format',
          JSON.stringify(redactUrlCredentials(url)),
          'an http:// or https:// URL',
        ),
      );
    }
    if (parsed && parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      f.errors.push(
        line(`${at}.url`, 'URL must use http or https scheme', JSON.stringify(parsed.protocol), 'http or https'),
      );
    } else if (parsed && !parsed.hostname) {
      f.errors.push(
        line(
          `${at}.url`,
          'URL must include a valid host',
          JSON.stringify(url),
          'an http:// or https:// URL with a host',
        ),
      );
    }
  }
  const version = str(db.version) ?? 'v2';
  if (version === 'v2') {
    for (const k of ['token', 'org', 'bucket']) {
      const v = db[k];
      if (v === undefined || v === '')
        f.errors.push(
          line(
            `${at}.${k}`,
            `is required for InfluxDB v2`,
            v === '' ? '"" (is the environment variable set?)' : 'nothing',
            'a non-empty string',
          ),
        );
    }
  }
  const retryMin = typeof db.retry_min_delay === 'string' ? safeDuration(db.retry_min_delay) : 1000;
  const retryMax = typeof db.retry_max_delay === 'string' ? safeDuration(db.retry_max_delay) : 10_000;
  if (retryMin !== undefined && retryMax !== undefined && retryMax < retryMin) {
    f.errors.push(
      line(
        `${at}.retry_max_delay`,
        `must not be shorter than ${at}.retry_min_delay`,
        formatDuration(retryMax),
        `>= ${formatDuration(retryMin)}`,
      ),
    );
  }
  if (version === 'v1' && !str(db.database) && !str(db.bucket)) {
    f.errors.push(
      line(`${at}.database`, 'is required for InfluxDB v1', 'nothing', `a database name (or ${at}.bucket)`),
    );
  }
}

function safeDuration(s: string): number | undefined {
  try {
    return parseDuration(s);
  } catch {
    return undefined; // the schema reports the syntax
  }
}
