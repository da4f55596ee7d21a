import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hasCode } from '../internal/errors/errors.js';
import { parseSweepCommandArgs } from './sweep-argv.js';

describe('netscan sweep', () => {
  test('parses argv into options and lists every problem at once', () => {
    assert.deepEqual(
      parseSweepCommandArgs(['127.0.0.0/24', '127.0.1.0/24,127.0.2.1'], {
        exclude: ['127.0.0.0/30'],
        rate: '5000',
        timeout: '250ms',
        retries: '2',
        json: true,
        inFlight: '64',
      }),
      {
        targets: ['127.0.0.0/24', '127.0.1.0/24', '127.0.2.1'],
        exclude: ['127.0.0.0/30'],
        ratePps: 5000,
        timeoutMs: 250,
        retries: 2,
        json: true,
        inFlight: 64,
        show: 'alive',
        quiet: false,
        periodMs: 1000,
        order: 'arrival',
      },
    );
    assert.deepEqual(
      parseSweepCommandArgs(['fd00::1', 'fd00::1-fd00::9', 'gw.example'], {
        unreach: true,
        quiet: true,
        count: '3',
        period: '20',
        timeout: '500',
        order: 'address',
        ipv6: true,
      }),
      {
        targets: ['fd00::1', 'fd00::1-fd00::9', 'gw.example'],
        exclude: [],
        ratePps: 1000,
        timeoutMs: 500,
        retries: 1,
        json: false,
        inFlight: 1024,
        show: 'unreachable',
        quiet: true,
        periodMs: 20,
        order: 'address',
        count: 3,
        family: 6,
      },
    );
  });

  test('refuses bad targets and flags with one exact line each', () => {
    const problems = (targets: string[], argv: Parameters<typeof parseSweepCommandArgs>[1]): string[] => {
      try {
        parseSweepCommandArgs(targets, argv);
        return [];
      } catch (e) {
        assert.ok(hasCode(e, 'ERR_USAGE'));
        return e.message.split('\n');
      }
    };
    assert.deepEqual(
      problems(['127.0.0.0/33'], {
        exclude: 'x',
        rate: '0',
        retries: '-1',
        timeout: 'soon',
        inFlight: '1.5',
        count: '0',
        order: 'random',
      }),
      [
        'invalid CIDR notation: 127.0.0.0/33',
        'invalid CIDR notation: x',
        '--rate must be a number > 0, got "0"',
        '--retries must be an integer 0..100, got "-1"',
        '--in-flight must be an integer 1..60000, got "1.5"',
        '--count must be an integer 1..100000, got "0"',
        '--timeout: invalid duration "soon"',
        '--order must be arrival or address, got "random"',
      ],
    );
    assert.deepEqual(problems([], {}), [
      'no targets: give them as arguments, in a file with -f FILE, or one per line on standard input',
    ]);
    assert.deepEqual(problems(['127.0.0.1'], { alive: true, unreach: true, ipv4: true, ipv6: true }), [
      '-a and -u exclude each other: give one',
      '-4 and -6 exclude each other: give one',
    ]);
    assert.deepEqual(problems(['fd00::/64', '::1', '127.0.0.300'], { ipv4: true }), [
      'IPv6 prefix fd00::/64 is too large to sweep (2^64 addresses; the limit is /112, 65536 addresses): list the hosts to probe as targets instead',
      '::1: an IPv6 target, but -4 limits the sweep to IPv4',
      'invalid address: 127.0.0.300',
    ]);
    assert.deepEqual(problems(['127.0.0.1'], { period: '-5ms', timeout: '0' }), [
      '--timeout must be > 0, got "0"',
      '--period must be >= 0, got "-5ms"',
    ]);
  });
});
