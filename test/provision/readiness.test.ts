import assert from 'node:assert/strict';
import { test } from 'node:test';
import { interpretStatus } from '../../src/provision/launch/readiness.js';

// Outputs of `cloud-init status --wait --long`: 22.4 as measured on Debian 12 here, 24.x as documented upstream.
const cases = [
  {
    name: '22.4 done',
    exit: 0,
    output:
      '\nstatus: done\nboot_status_code: enabled-by-generator\nlast_update: Sun, 22 Nov 2026 03:48:58 +0000\ndetail:\nDataSourceNoCloud [seed=/dev/vdb][dsmode=net]\n',
    expect: { state: 'ready', status: 'done', detail: 'DataSourceNoCloud [seed=/dev/vdb][dsmode=net]', errors: undefined },
  },
  {
    name: '22.4 failing runcmd',
    exit: 1,
    output:
      "\nstatus: error\nboot_status_code: enabled-by-generator\nlast_update: Sun, 22 Nov 2026 03:57:56 +0000\ndetail:\n('scripts-user', RuntimeError('Runparts: 1 failures (runcmd) in 1 attempted commands'))\n",
    expect: {
      state: 'error',
      status: 'error',
      detail: "('scripts-user', RuntimeError('Runparts: 1 failures (runcmd) in 1 attempted commands'))",
      errors: undefined,
    },
  },
  {
    name: '24.x degraded',
    exit: 2,
    output:
      'status: done\nextended_status: degraded done\ndetail: DataSourceNoCloud [seed=/dev/sr0]\nerrors: []\nrecoverable_errors:\nWARNING:\n\t- Failed at merging in cloud config part from part-001\n',
    expect: {
      state: 'degraded',
      status: 'done',
      detail: 'DataSourceNoCloud [seed=/dev/sr0]',
      errors: 'WARNING:\n- Failed at merging in cloud config part from part-001',
    },
  },
  { name: 'unknown exit', exit: 3, output: 'status: running\n', expect: { state: 'unknown', status: 'running', detail: undefined, errors: undefined } },
];

for (const c of cases) {
  test(`cloud-init status: ${c.name}`, () => {
    const r = interpretStatus(c.exit, c.output);
    assert.deepEqual({ state: r.state, status: r.status, detail: r.detail, errors: r.errors }, c.expect);
  });
}
