/**
 * Downloads into one directory from two loaders at once, as two train.js runs started together
 * do. A loopback mirror delays each response until both loaders have requested the file, so the
 * two downloads of every file overlap.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, watch } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { ServerResponse, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';

import { DataFormatError } from '../../src/data/errors.js';
import { MNIST_FILES, loadMnist } from '../../src/data/mnist.js';
import type { MnistFileKey } from '../../src/data/mnist.js';
import { makeIdx } from '../helpers/idx.js';

/** uint8 images [count, 28, 28]; pixel i of the file has value (i * 7 + seed) % 256. */
function makeImages(count: number, seed: number): Uint8Array {
  return makeIdx(0x08, [count, 28, 28], Uint8Array.from({ length: count * 784 }, (_, i) => (i * 7 + seed) % 256));
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const KEYS: MnistFileKey[] = ['trainImages', 'trainLabels', 'testImages', 'testLabels'];

/** Tiny stand-ins for the four files: 3 train and 2 test samples, uncompressed. */
const FAKE_FILES: Record<MnistFileKey, Uint8Array> = {
  trainImages: makeImages(3, 1),
  trainLabels: makeIdx(0x08, [3], Uint8Array.from([5, 0, 9])),
  testImages: makeImages(2, 2),
  testLabels: makeIdx(0x08, [2], Uint8Array.from([7, 2])),
};
const FAKE_SHA256 = Object.fromEntries(KEYS.map((key) => [key, sha256(FAKE_FILES[key])])) as Record<MnistFileKey, string>;
const FINAL_NAMES = KEYS.map((key) => `${MNIST_FILES[key].base}.gz`).sort();

/** Resolves once `path` exists. Watching the directory avoids polling. */
function waitForFile(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(dirname(path), () => {
      if (existsSync(path)) {
        watcher.close();
        resolve();
      }
    });
    watcher.on('error', reject);
    if (existsSync(path)) {
      watcher.close();
      resolve();
    }
  });
}

/**
 * Returns a fetch that passes the response headers on at once, so the loader creates its
 * part file, but delays the body until `await beforeBody(url)` resolves.
 */
function fetchWithHeldBody(beforeBody: (url: string) => Promise<void>): typeof fetch {
  return async (input, init) => {
    const url = String(input);
    const response = await fetch(url, init);
    const source = response.body!;
    const held = new ReadableStream<Uint8Array>({
      async start(controller) {
        await beforeBody(url);
        const reader = source.getReader();
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) controller.enqueue(chunk.value);
        controller.close();
      },
    });
    return new Response(held, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

/** Final path in `dir` of the file that `url` names. */
function finalPathOf(dir: string, url: string): string {
  return join(dir, url.slice(url.lastIndexOf('/') + 1));
}

describe('concurrent downloads', () => {
  let scratch = '';
  let server: Server;
  let baseUrl = '';
  /** URL path -> responses waiting for the second request of that path. */
  const waiting = new Map<string, ServerResponse[]>();
  /** URL path -> response body. */
  const served = new Map<string, Uint8Array>();

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'mnist-concurrent-'));
    for (const key of KEYS) {
      const gz = gzipSync(FAKE_FILES[key]);
      served.set(`/pair/${MNIST_FILES[key].base}.gz`, gz);
      served.set(`/single/${MNIST_FILES[key].base}.gz`, gz);
    }

    server = createServer((request, response) => {
      const path = request.url ?? '';
      const body = served.get(path);
      if (body === undefined) {
        response.writeHead(404).end();
        return;
      }
      const send = (target: ServerResponse): void => {
        target.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }).end(body);
      };
      if (!path.startsWith('/pair/')) {
        send(response);
        return;
      }
      // Respond to both requests of a path together, once the second one arrives.
      const queue = waiting.get(path) ?? [];
      queue.push(response);
      waiting.set(path, queue);
      if (queue.length === 2) {
        waiting.delete(path);
        queue.forEach(send);
      }
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
    await rm(scratch, { recursive: true, force: true });
  });

  test('two loaders on one empty directory', async () => {
    const dir = join(scratch, 'pair');
    const options = { dataDir: dir, mirrors: [`${baseUrl}/pair/`], sha256: FAKE_SHA256 };
    // The second loader receives each body only after the first has moved that file into
    // place, so it always finds the final file already there.
    const [first, second] = await Promise.all([
      loadMnist(options),
      loadMnist({ ...options, fetchImpl: fetchWithHeldBody((url) => waitForFile(finalPathOf(dir, url))) }),
    ]);

    for (const dataset of [first, second]) {
      assert.equal(dataset.train.count, 3);
      assert.equal(dataset.test.count, 2);
      assert.deepEqual(Array.from(dataset.train.labels), [5, 0, 9]);
      assert.deepEqual(Array.from(dataset.test.labels), [7, 2]);
    }
    assert.deepEqual((await readdir(dir)).sort(), FINAL_NAMES);
    for (const key of KEYS) {
      const saved = gunzipSync(await readFile(join(dir, `${MNIST_FILES[key].base}.gz`)));
      assert.equal(sha256(saved), FAKE_SHA256[key], key);
    }
  });

  test('different file created meanwhile is kept', async () => {
    const dir = join(scratch, 'conflict');
    const target = join(dir, `${MNIST_FILES.trainImages.base}.gz`);
    const other = gzipSync(makeImages(4, 9));
    // Another writer creates the final file while the body is on its way.
    const fetchImpl = fetchWithHeldBody(async (url) => {
      if (finalPathOf(dir, url) === target) await writeFile(target, other, { flag: 'wx' });
    });

    await assert.rejects(loadMnist({ dataDir: dir, mirrors: [`${baseUrl}/single/`], sha256: FAKE_SHA256, fetchImpl }), (error: unknown) => {
      assert.ok(error instanceof DataFormatError, `expected DataFormatError, got ${String(error)}`);
      assert.equal(error.file, target);
      assert.match(error.message, /created while this process downloaded the same file/);
      assert.ok(error.message.includes(`expected ${FAKE_SHA256.trainImages}`), error.message);
      assert.ok(error.message.includes(sha256(makeImages(4, 9))), error.message);
      return true;
    });
    assert.deepEqual(await readFile(target), other);
    assert.deepEqual(await readdir(dir), [`${MNIST_FILES.trainImages.base}.gz`]);
  });

  test('part files of ended processes removed', async () => {
    const dir = join(scratch, 'stale');
    await mkdir(dir);
    // 9,999,999 is above Linux's largest pid_max (2^22), so no process has that id.
    const stale = `${MNIST_FILES.trainImages.base}.gz.part-9999999-0`;
    const live = `${MNIST_FILES.trainImages.base}.gz.part-${process.ppid}-0`;
    await writeFile(join(dir, stale), 'partial');
    await writeFile(join(dir, live), 'partial');

    await loadMnist({ dataDir: dir, mirrors: [`${baseUrl}/single/`], sha256: FAKE_SHA256 });
    assert.deepEqual((await readdir(dir)).sort(), [...FINAL_NAMES, live].sort());
  });
});
