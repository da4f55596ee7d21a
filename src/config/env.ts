/**
 * `$VAR` / `${VAR}` expansion with Go os.ExpandEnv semantics for the fields the Go netscan
 * expanded (influxdb url/token/org/bucket/health_bucket, snmp.community) and our new secret
 * fields. One deliberate difference: `$$` yields a literal `$` (Go expands it to the value of a
 * variable named `$`, normally empty, which silently mangled tokens such as `pa$$word`).
 */
export function expandEnv(input: string, env: Readonly<Record<string, string | undefined>>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1] as string;
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '{') {
      const close = input.indexOf('}', i + 2);
      // Go drops an unterminated "${" and the rest of the string is kept.
      if (close < 0) {
        i++;
        continue;
      }
      out += env[input.slice(i + 2, close)] ?? '';
      i = close;
    } else if ('*#@!?-0123456789'.includes(next)) {
      // Go treats shell specials and a digit as one-character variable names ($1abc is $1 + "abc").
      out += env[next] ?? '';
      i++;
    } else if (/[A-Za-z_]/.test(next)) {
      let j = i + 1;
      while (j < input.length && /[A-Za-z0-9_]/.test(input[j] as string)) j++;
      out += env[input.slice(i + 1, j)] ?? '';
      i = j - 1;
    } else {
      out += c;
    }
  }
  return out;
}
