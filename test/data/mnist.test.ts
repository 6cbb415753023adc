import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { DataFormatError, DatasetMissingError } from '../../src/data/errors.js';
import {
  MNIST_FILES,
  loadIdxPair,
  loadMnist,
  renderDownloadProgress,
  resolveMnistDir,
} from '../../src/data/mnist.js';
import type { DownloadProgress, MnistFileKey, ProgressStream } from '../../src/data/mnist.js';
import { makeIdx } from '../helpers/idx.js';

/** uint8 images [count, height, width]; pixel i of the file has value (i * 7 + seed) % 256. */
function makeImages(count: number, height = 28, width = 28, seed = 0): Uint8Array {
  const pixels = Uint8Array.from({ length: count * height * width }, (_, i) => (i * 7 + seed) % 256);
  return makeIdx(0x08, [count, height, width], pixels);
}

function makeLabels(labels: number[]): Uint8Array {
  return makeIdx(0x08, [labels.length], Uint8Array.from(labels));
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const KEYS: MnistFileKey[] = ['trainImages', 'trainLabels', 'testImages', 'testLabels'];

/** Tiny stand-ins for the four files: 3 train and 2 test samples, uncompressed. */
const FAKE_FILES: Record<MnistFileKey, Uint8Array> = {
  trainImages: makeImages(3, 28, 28, 1),
  trainLabels: makeLabels([5, 0, 9]),
  testImages: makeImages(2, 28, 28, 2),
  testLabels: makeLabels([7, 2]),
};
const FAKE_SHA256 = Object.fromEntries(KEYS.map((key) => [key, sha256(FAKE_FILES[key])])) as Record<MnistFileKey, string>;

let scratch = '';
let dirCounter = 0;

/** Returns a fresh path under the scratch directory; the directory itself is not created. */
function freshDir(): string {
  dirCounter += 1;
  return join(scratch, `case-${dirCounter}`);
}

async function writeFakeFiles(dir: string, keys: MnistFileKey[], gzip: boolean): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const key of keys) {
    const name = MNIST_FILES[key].base + (gzip ? '.gz' : '');
    await writeFile(join(dir, name), gzip ? gzipSync(FAKE_FILES[key]) : FAKE_FILES[key]);
  }
}

async function assertRejectsWith<T extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => T,
  check: (error: T) => void,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    check(error);
    return true;
  });
}

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'mnist-test-'));
});

after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('resolveMnistDir', () => {
  test('option beats env beats default', () => {
    assert.equal(resolveMnistDir({ dataDir: '/opt/a', env: { MNIST_DIR: '/opt/b' } }), '/opt/a');
    assert.equal(resolveMnistDir({ env: { MNIST_DIR: '/opt/b' } }), '/opt/b');
    assert.equal(resolveMnistDir({ env: {} }), resolve('data/mnist'));
  });

  test('empty values count as unset', () => {
    assert.equal(resolveMnistDir({ dataDir: '', env: { MNIST_DIR: '' } }), resolve('data/mnist'));
  });

  test('relative paths resolve against cwd', () => {
    assert.equal(resolveMnistDir({ dataDir: 'some/dir', env: {} }), resolve(process.cwd(), 'some/dir'));
  });
});

describe('loadIdxPair', () => {
  test('raw files normalized into shared memory', async () => {
    const dir = freshDir();
    await writeFakeFiles(dir, ['trainImages', 'trainLabels'], false);
    const split = await loadIdxPair(join(dir, MNIST_FILES.trainImages.base), join(dir, MNIST_FILES.trainLabels.base));

    assert.equal(split.count, 3);
    assert.equal(split.images.length, 3 * 28 * 28);
    assert.ok(split.images.buffer instanceof SharedArrayBuffer);
    assert.ok(split.labels.buffer instanceof SharedArrayBuffer);
    assert.deepEqual(Array.from(split.labels), [5, 0, 9]);
    // Pixel i of the fake file is (i * 7 + 1) % 256.
    for (const i of [0, 1, 36, 2351]) {
      assert.equal(split.images[i], Math.fround(((i * 7 + 1) % 256) / 255), `pixel ${i}`);
    }
  });

  test('gzip files load the same', async () => {
    const dir = freshDir();
    await writeFakeFiles(dir, ['testImages', 'testLabels'], true);
    const split = await loadIdxPair(
      join(dir, `${MNIST_FILES.testImages.base}.gz`),
      join(dir, `${MNIST_FILES.testLabels.base}.gz`),
    );
    assert.equal(split.count, 2);
    assert.deepEqual(Array.from(split.labels), [7, 2]);
    assert.equal(split.images[1], Math.fround(9 / 255));
  });

  async function writePair(images: Uint8Array, labels: Uint8Array): Promise<[string, string]> {
    const dir = freshDir();
    await mkdir(dir, { recursive: true });
    const imagesPath = join(dir, 'images-idx3-ubyte');
    const labelsPath = join(dir, 'labels-idx1-ubyte');
    await writeFile(imagesPath, images);
    await writeFile(labelsPath, labels);
    return [imagesPath, labelsPath];
  }

  test('count mismatch names both files', async () => {
    const [imagesPath, labelsPath] = await writePair(makeImages(3), makeLabels([1, 2]));
    await assertRejectsWith(loadIdxPair(imagesPath, labelsPath), DataFormatError, (error) => {
      assert.equal(error.file, labelsPath);
      assert.ok(error.message.includes(imagesPath), error.message);
      assert.match(error.message, /2 labels/);
      assert.match(error.message, /3 images/);
    });
  });

  test('label out of range names first index', async () => {
    const [imagesPath, labelsPath] = await writePair(makeImages(5), makeLabels([1, 9, 10, 3, 200]));
    await assertRejectsWith(loadIdxPair(imagesPath, labelsPath), DataFormatError, (error) => {
      assert.equal(error.file, labelsPath);
      assert.match(error.message, /label 10 at index 2 is outside 0-9/);
    });
  });

  test('27x28 images rejected', async () => {
    const [imagesPath, labelsPath] = await writePair(makeImages(2, 27, 28), makeLabels([1, 2]));
    await assertRejectsWith(loadIdxPair(imagesPath, labelsPath), DataFormatError, (error) => {
      assert.equal(error.file, imagesPath);
      assert.match(error.message, /\[N, 28, 28\], found shape \[2, 27, 28\]/);
    });
  });

  test('labels of rank 2 rejected', async () => {
    const [imagesPath, labelsPath] = await writePair(makeImages(2), makeIdx(0x08, [2, 1], Uint8Array.from([1, 2])));
    await assertRejectsWith(loadIdxPair(imagesPath, labelsPath), DataFormatError, (error) => {
      assert.equal(error.file, labelsPath);
      assert.match(error.message, /found uint8 data of shape \[2, 1\]/);
    });
  });

  test('non-uint8 images rejected', async () => {
    const floatImages = makeIdx(0x0d, [1, 28, 28], new Uint8Array(28 * 28 * 4));
    const [imagesPath, labelsPath] = await writePair(floatImages, makeLabels([1]));
    await assertRejectsWith(loadIdxPair(imagesPath, labelsPath), DataFormatError, (error) => {
      assert.equal(error.file, imagesPath);
      assert.match(error.message, /found float32 data/);
    });
  });

  test('zero images rejected', async () => {
    const [imagesPath, labelsPath] = await writePair(makeImages(0), makeLabels([]));
    await assertRejectsWith(loadIdxPair(imagesPath, labelsPath), DataFormatError, (error) => {
      assert.equal(error.file, imagesPath);
      assert.match(error.message, /contains no images/);
    });
  });
});

describe('loadMnist from a directory', () => {
  test('mixed gzip and raw files load', async () => {
    const dir = freshDir();
    await writeFakeFiles(dir, ['trainImages', 'testLabels'], true);
    await writeFakeFiles(dir, ['trainLabels', 'testImages'], false);
    const dataset = await loadMnist({ dataDir: dir, download: false });

    assert.equal(dataset.dir, dir);
    assert.equal(dataset.train.count, 3);
    assert.equal(dataset.test.count, 2);
    assert.deepEqual(Array.from(dataset.train.labels), [5, 0, 9]);
    assert.deepEqual(Array.from(dataset.test.labels), [7, 2]);
  });

  test('gzip file preferred over raw', async () => {
    const dir = freshDir();
    await writeFakeFiles(dir, KEYS, true);
    await writeFile(join(dir, MNIST_FILES.testLabels.base), makeLabels([1, 1]));
    const dataset = await loadMnist({ dataDir: dir, download: false });
    assert.deepEqual(Array.from(dataset.test.labels), [7, 2]);
  });

  test('MNIST_DIR env used', async () => {
    const dir = freshDir();
    await writeFakeFiles(dir, KEYS, false);
    const dataset = await loadMnist({ env: { MNIST_DIR: dir }, download: false });
    assert.equal(dataset.dir, dir);
    assert.equal(dataset.train.count, 3);
  });

  test('present files skip checksum', async () => {
    // The fake files never match the canonical MNIST checksums, like Fashion-MNIST would not.
    assert.notEqual(FAKE_SHA256.trainImages, MNIST_FILES.trainImages.sha256);
    const dir = freshDir();
    await writeFakeFiles(dir, KEYS, true);
    const dataset = await loadMnist({ dataDir: dir });
    assert.equal(dataset.train.count, 3);
  });

  test('missing files with download off', async () => {
    const dir = freshDir();
    await writeFakeFiles(dir, ['trainImages', 'trainLabels'], true);
    await assertRejectsWith(loadMnist({ dataDir: dir, download: false }), DatasetMissingError, (error) => {
      assert.equal(error.name, 'DatasetMissingError');
      assert.deepEqual(error.missing, [MNIST_FILES.testImages.base, MNIST_FILES.testLabels.base]);
      assert.equal(error.directory, dir);
      assert.ok(error.message.includes(dir), error.message);
      assert.ok(error.message.includes(MNIST_FILES.testImages.base), error.message);
      assert.match(error.message, /Downloading is disabled/);
      assert.match(error.message, /--data DIR/);
      assert.match(error.message, /MNIST_DIR/);
    });
  });

  test('invalid present file rejected', async () => {
    const dir = freshDir();
    await writeFakeFiles(dir, KEYS, false);
    const badPath = join(dir, MNIST_FILES.testImages.base);
    await writeFile(badPath, FAKE_FILES.testImages.subarray(0, 100));
    await assertRejectsWith(loadMnist({ dataDir: dir, download: false }), DataFormatError, (error) => {
      assert.equal(error.file, badPath);
      assert.match(error.message, /truncated/);
    });
  });
});

describe('loadMnist on real MNIST', () => {
  test('counts, test histogram, train mean', async (t) => {
    const dir = process.env.MNIST_DIR;
    if (!dir) {
      t.skip('MNIST_DIR is not set; point it at a directory with the four MNIST files to run this test');
      return;
    }
    const dataset = await loadMnist({ dataDir: dir, download: false });

    assert.equal(dataset.train.count, 60000);
    assert.equal(dataset.test.count, 10000);
    assert.equal(dataset.train.images.length, 60000 * 28 * 28);
    assert.equal(dataset.test.images.length, 10000 * 28 * 28);
    assert.equal(dataset.train.labels.length, 60000);

    const histogram = new Array<number>(10).fill(0);
    for (const label of dataset.test.labels) histogram[label] += 1;
    assert.deepEqual(histogram, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);

    let sum = 0;
    for (const pixel of dataset.train.images) sum += pixel;
    const mean = sum / dataset.train.images.length;
    assert.ok(Math.abs(mean - 0.1306604762738429) < 1e-6, `train image mean ${mean}`);
  });

  test('download passes built-in checksums', async (t) => {
    const sourceDir = process.env.MNIST_DIR;
    if (!sourceDir) {
      t.skip('MNIST_DIR is not set; point it at a directory with the four gzip-compressed MNIST files to run this test');
      return;
    }
    const mirror = createServer((request, response) => {
      readFile(join(sourceDir, (request.url ?? '').slice(1))).then(
        (body) => response.writeHead(200, { 'Content-Length': body.length }).end(body),
        () => response.writeHead(404).end(),
      );
    });
    await new Promise<void>((done) => mirror.listen(0, '127.0.0.1', done));
    t.after(async () => {
      mirror.closeAllConnections();
      await new Promise<void>((done) => mirror.close(() => done()));
    });

    const dir = freshDir();
    const port = (mirror.address() as AddressInfo).port;
    const dataset = await loadMnist({ dataDir: dir, mirrors: [`http://127.0.0.1:${port}/`] });
    assert.equal(dataset.train.count, 60000);
    assert.equal(dataset.test.count, 10000);
    assert.deepEqual((await readdir(dir)).sort(), KEYS.map((key) => `${MNIST_FILES[key].base}.gz`).sort());
  });
});

describe('loadMnist downloads', () => {
  let server: Server;
  let baseUrl = '';
  /** Request paths received by the server, in order. */
  const requests: string[] = [];
  /** URL path -> response body. Paths under /stall/ send half the body and then hang. */
  const served = new Map<string, Uint8Array>();

  before(async () => {
    server = createServer((request, response) => {
      const path = request.url ?? '';
      requests.push(path);
      const body = served.get(path);
      if (body === undefined) {
        response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
        return;
      }
      response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
      if (path.startsWith('/stall/')) {
        response.write(body.subarray(0, body.length >> 1));
        return;
      }
      response.end(body);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    for (const key of KEYS) {
      const gz = gzipSync(FAKE_FILES[key]);
      served.set(`/good/${MNIST_FILES[key].base}.gz`, gz);
      served.set(`/stall/${MNIST_FILES[key].base}.gz`, gz);
      // Same size as the real file but one pixel or label changed.
      const corrupted = FAKE_FILES[key].slice();
      corrupted[corrupted.length - 1] ^= 1;
      served.set(`/corrupt/${MNIST_FILES[key].base}.gz`, gzipSync(corrupted));
      served.set(`/notgzip/${MNIST_FILES[key].base}.gz`, Uint8Array.from([0x1f, 0x8b, 1, 2, 3]));
    }
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  });

  test('download succeeds with progress', async () => {
    const dir = join(freshDir(), 'nested');
    const events: DownloadProgress[] = [];
    const dataset = await loadMnist({
      dataDir: dir,
      mirrors: [`${baseUrl}/good/`],
      sha256: FAKE_SHA256,
      onProgress: (info) => events.push(info),
    });

    assert.equal(dataset.train.count, 3);
    assert.equal(dataset.test.count, 2);
    assert.deepEqual(Array.from(dataset.test.labels), [7, 2]);

    const files = (await readdir(dir)).sort();
    assert.deepEqual(files, KEYS.map((key) => `${MNIST_FILES[key].base}.gz`).sort());

    for (const key of KEYS) {
      const file = `${MNIST_FILES[key].base}.gz`;
      const size = served.get(`/good/${file}`)!.length;
      const fileEvents = events.filter((event) => event.file === file);
      assert.equal(fileEvents[0]?.phase, 'start', file);
      assert.equal(fileEvents[0]?.totalBytes, size, file);
      assert.equal(fileEvents[0]?.url, `${baseUrl}/good/${file}`);
      const last = fileEvents[fileEvents.length - 1];
      assert.equal(last?.phase, 'done', file);
      assert.equal(last?.receivedBytes, size, file);
    }
  });

  test('only missing files downloaded', async () => {
    const dir = freshDir();
    await writeFakeFiles(dir, ['trainImages', 'trainLabels'], false);
    requests.length = 0;
    const dataset = await loadMnist({ dataDir: dir, mirrors: [`${baseUrl}/good`], sha256: FAKE_SHA256 });

    assert.equal(dataset.test.count, 2);
    assert.deepEqual(requests, [
      `/good/${MNIST_FILES.testImages.base}.gz`,
      `/good/${MNIST_FILES.testLabels.base}.gz`,
    ]);
  });

  test('next mirror tried after 404', async () => {
    const dir = freshDir();
    requests.length = 0;
    const dataset = await loadMnist({
      dataDir: dir,
      mirrors: [`${baseUrl}/absent/`, `${baseUrl}/good/`],
      sha256: FAKE_SHA256,
    });
    assert.equal(dataset.train.count, 3);
    assert.equal(requests.filter((path) => path.startsWith('/absent/')).length, 4);
    assert.equal(requests.filter((path) => path.startsWith('/good/')).length, 4);
  });

  test('checksum mismatch removes partial file', async () => {
    const dir = freshDir();
    await assertRejectsWith(
      loadMnist({ dataDir: dir, mirrors: [`${baseUrl}/corrupt/`], sha256: FAKE_SHA256 }),
      DatasetMissingError,
      (error) => {
        assert.deepEqual(error.missing, KEYS.map((key) => MNIST_FILES[key].base));
        assert.match(error.message, /sha256 of the decompressed data is [0-9a-f]{64}, expected/);
        assert.ok(error.message.includes(FAKE_SHA256.trainImages), error.message);
        assert.match(error.message, /removed the partial download .*train-images-idx3-ubyte\.gz\.part/);
      },
    );
    assert.deepEqual(await readdir(dir), []);
  });

  test('corrupt gzip download rejected', async () => {
    const dir = freshDir();
    await assertRejectsWith(
      loadMnist({ dataDir: dir, mirrors: [`${baseUrl}/notgzip/`], sha256: FAKE_SHA256 }),
      DatasetMissingError,
      (error) => {
        assert.match(error.message, /the downloaded data is corrupt: invalid gzip data/);
      },
    );
    assert.deepEqual(await readdir(dir), []);
  });

  test('stalled download times out', async () => {
    const dir = freshDir();
    const events: DownloadProgress[] = [];
    await assertRejectsWith(
      loadMnist({
        dataDir: dir,
        mirrors: [`${baseUrl}/stall/`],
        sha256: FAKE_SHA256,
        stallTimeoutMs: 150,
        onProgress: (info) => events.push(info),
      }),
      DatasetMissingError,
      (error) => {
        assert.match(error.message, /timed out: no data received for 150 ms/);
        assert.match(error.message, /removed the partial download/);
      },
    );
    assert.deepEqual(await readdir(dir), []);
    assert.ok(events.some((event) => event.phase === 'failed'), 'no failed progress event');
  });

  test('a silent mirror is tried for one file only', async () => {
    // Accepts connections, reads requests and never responds.
    const requests: string[] = [];
    const silent = createNetServer((socket) => {
      socket.on('data', (data) => requests.push(data.toString().split('\r\n')[0]));
    });
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    try {
      const port = (silent.address() as AddressInfo).port;
      const dir = freshDir();
      const dataset = await loadMnist({
        dataDir: dir,
        mirrors: [`http://127.0.0.1:${port}/`, `${baseUrl}/good/`],
        sha256: FAKE_SHA256,
        stallTimeoutMs: 150,
      });
      assert.equal(dataset.train.count, 3);
      assert.deepEqual(requests, ['GET /train-images-idx3-ubyte.gz HTTP/1.1']);
    } finally {
      silent.close();
    }
  });

  test('server down names missing files', async () => {
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((done) => closed.close(() => done()));

    const dir = freshDir();
    await writeFakeFiles(dir, ['trainImages'], true);
    await assertRejectsWith(
      loadMnist({ dataDir: dir, mirrors: [`http://127.0.0.1:${port}/`], sha256: FAKE_SHA256 }),
      DatasetMissingError,
      (error) => {
        const expectedMissing = ['trainLabels', 'testImages', 'testLabels'].map(
          (key) => MNIST_FILES[key as MnistFileKey].base,
        );
        assert.deepEqual(error.missing, expectedMissing);
        assert.equal(error.directory, dir);
        const [firstLine] = error.message.split('\n');
        for (const name of expectedMissing) {
          assert.ok(firstLine.includes(name), firstLine);
        }
        assert.ok(!firstLine.includes(MNIST_FILES.trainImages.base), firstLine);
        assert.match(error.message, /ECONNREFUSED/);
        assert.match(error.message, /--data DIR/);
        assert.match(error.message, /MNIST_DIR/);
      },
    );
    assert.deepEqual(await readdir(dir), [`${MNIST_FILES.trainImages.base}.gz`]);
  });

  test('injected fetch receives mirror URLs', async () => {
    const dir = freshDir();
    const urls: string[] = [];
    const fetchImpl: typeof fetch = async (input, init) => {
      urls.push(String(input));
      return fetch(String(input).replace('https://mirror.invalid/mnist', `${baseUrl}/good`), init);
    };
    const dataset = await loadMnist({
      dataDir: dir,
      mirrors: ['https://mirror.invalid/mnist/'],
      sha256: FAKE_SHA256,
      fetchImpl,
    });
    assert.equal(dataset.test.count, 2);
    assert.deepEqual(urls, KEYS.map((key) => `https://mirror.invalid/mnist/${MNIST_FILES[key].base}.gz`));
  });
});

describe('renderDownloadProgress', () => {
  function captureStream(isTTY: boolean): { stream: ProgressStream; output: () => string } {
    const writes: string[] = [];
    const stream = { isTTY, write: (chunk: string) => writes.push(chunk) > 0 } as unknown as ProgressStream;
    return { stream, output: () => writes.join('') };
  }

  const base = { file: 'train-images-idx3-ubyte.gz', url: 'https://example.org/train-images-idx3-ubyte.gz' };
  const events: DownloadProgress[] = [
    { ...base, phase: 'start', receivedBytes: 0, totalBytes: 9_912_422 },
    { ...base, phase: 'data', receivedBytes: 4_000_000, totalBytes: 9_912_422 },
    { ...base, phase: 'done', receivedBytes: 9_912_422, totalBytes: 9_912_422 },
  ];

  test('TTY redraws one line', () => {
    const { stream, output } = captureStream(true);
    for (const event of events) renderDownloadProgress(event, stream);
    const text = output();
    assert.equal(text.split('\r').length - 1, 3);
    assert.equal(text.split('\n').length - 1, 1);
    assert.ok(text.endsWith('\n'));
    assert.match(text, /4\.0 MB \/ 9\.9 MB \(40%\)/);
  });

  test('non-TTY writes start and end only', () => {
    const { stream, output } = captureStream(false);
    for (const event of events) renderDownloadProgress(event, stream);
    const text = output();
    assert.ok(!text.includes('\r'));
    assert.deepEqual(text.split('\n'), [
      'Downloading train-images-idx3-ubyte.gz from https://example.org/train-images-idx3-ubyte.gz (9.9 MB)',
      'Downloaded train-images-idx3-ubyte.gz: 9.9 MB',
      '',
    ]);
  });

  test('unknown total omits percent', () => {
    const { stream, output } = captureStream(true);
    renderDownloadProgress({ ...base, phase: 'data', receivedBytes: 1_500_000, totalBytes: null }, stream);
    assert.ok(output().includes('1.5 MB'));
    assert.ok(!output().includes('%'));
  });
});
