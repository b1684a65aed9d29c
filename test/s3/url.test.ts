// s3:// store URLs: parsed and checked before any network or credentials.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, ExitCode, IngotError } from '../../src/errors.js';
import { openBackend } from '../../src/store/open.js';
import { displayS3Url, parseS3Url } from '../../src/store/s3-url.js';

test('parses bucket, prefix, endpoint, region, addressing and checksum mode', () => {
  assert.deepEqual(parseS3Url('s3://lab-images'), {
    bucket: 'lab-images',
    prefix: '',
    endpoint: undefined,
    region: undefined,
    forcePathStyle: undefined,
    checksum: 'WHEN_REQUIRED',
  });
  assert.deepEqual(parseS3Url('s3://lab.images/team/a/?endpoint=https://e2.example.net/&region=us-east-1&forcePathStyle=false&checksum=when_supported'), {
    bucket: 'lab.images',
    prefix: 'team/a/',
    endpoint: 'https://e2.example.net',
    region: 'us-east-1',
    forcePathStyle: false,
    checksum: 'WHEN_SUPPORTED',
  });
  assert.equal(displayS3Url(parseS3Url('s3://b1b/x?endpoint=http://127.0.0.1:9000')), 's3://b1b/x/?endpoint=http://127.0.0.1:9000');
});

const cases: [string, RegExp][] = [
  ['s3://Upper_Case', /bucket name/],
  ['s3://ab', /bucket name/],
  ['s3://key:secret@bucket', /credentials do not belong/],
  ['s3://bucket:9000', /port belongs to \?endpoint=/],
  ['s3://bucket/../x', /"\.\." segments|prefix/],
  ['s3://bucket?endpoint=ftp://x', /http\(s\) URL/],
  ['s3://bucket?endpoint=notaurl', /http\(s\) URL/],
  ['s3://bucket?region=us east', /region/],
  ['s3://bucket?forcePathStyle=maybe', /forcePathStyle=true or false/],
  ['s3://bucket?checksum=always', /checksum=when_required or when_supported/],
  ['s3://bucket?endpiont=https://x', /unknown parameter "endpiont"/],
];
for (const [url, pattern] of cases) {
  test(`refuses ${url}`, () => {
    assert.throws(
      () => parseS3Url(url),
      (e: unknown) => {
        assert.ok(e instanceof IngotError);
        assert.equal(e.code, ErrorCode.storeUrl);
        assert.equal(e.exitCode, ExitCode.usage);
        assert.match(e.message, pattern);
        assert.ok(!e.message.includes('secret'), 'no credentials echoed');
        return true;
      },
    );
  });
}

test('openBackend routes s3:// to the S3 backend without needing credentials up front', async () => {
  const store = await openBackend('s3://some-bucket/pre?endpoint=http://127.0.0.1:1', { baseDir: '/', env: {}, readOnly: true });
  assert.equal(store.kind, 's3');
  assert.equal(store.displayUrl, 's3://some-bucket/pre/?endpoint=http://127.0.0.1:1');
  await store.close();
});

test('a malformed %-escape is a usage error, and endpoint credentials are never echoed (regression)', async () => {
  const { parseS3Url: parse } = await import('../../src/store/s3-url.js');
  const { IngotError: E } = await import('../../src/errors.js');
  assert.throws(
    () => parse('s3://bucket/%zz'),
    (e: unknown) => e instanceof E && e.code === 'INGOT_STORE_URL' && e.exitCode === 2,
  );
  assert.throws(
    () => parse('s3://bucket?endpoint=ftp://user:hunter22@host'),
    (e: unknown) => e instanceof E && e.code === 'INGOT_STORE_URL' && !e.message.includes('hunter22'),
  );
});
