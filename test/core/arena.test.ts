import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Arena } from '../../src/core/arena.js';

test('arena allocations are aligned and disjoint', () => {
  const arena = new Arena();
  const a = arena.allocFloat32(3);
  const b = arena.allocInt32(5);
  const c = arena.allocFloat64(2);
  for (const view of [a, b, c]) assert.equal(view.byteOffset % 64, 0, `offset ${view.byteOffset}`);
  assert.ok(b.byteOffset >= a.byteOffset + a.byteLength);
  assert.ok(c.byteOffset >= b.byteOffset + b.byteLength);
  a.fill(1);
  b.fill(2);
  c.fill(3);
  assert.deepEqual([...a], [1, 1, 1]);
  assert.deepEqual([...b], [2, 2, 2, 2, 2]);
  assert.deepEqual([...c], [3, 3]);
  assert.equal(arena.allocationCount, 3);
});

test('arena memory is shared', () => {
  const arena = new Arena();
  assert.ok(arena.buffer instanceof SharedArrayBuffer);
  const view = arena.allocFloat32(4);
  view[2] = 7.5;
  assert.equal(arena.float32({ byteOffset: view.byteOffset, length: 4 })[2], 7.5);
});

test('arena grows past its first page', () => {
  const arena = new Arena(undefined, { initialBytes: 65536 });
  const big = arena.allocFloat32(100_000);
  big[99_999] = 4;
  assert.equal(big.length, 100_000);
  assert.ok(arena.buffer.byteLength >= big.byteOffset + big.byteLength);
  assert.equal(big[99_999], 4);
});

test('arena release reuses bytes zeroed', () => {
  const arena = new Arena();
  arena.allocFloat32(10);
  const mark = arena.mark();
  const first = arena.allocFloat32(16);
  first.fill(9);
  arena.release(mark);
  const second = arena.allocFloat32(16);
  assert.equal(second.byteOffset, first.byteOffset);
  assert.deepEqual([...second], new Array(16).fill(0));
});

test('arena wraps an existing memory', () => {
  const owner = new Arena();
  const view = owner.allocFloat32(8);
  view[0] = 1.25;
  const other = new Arena(owner.memory);
  const next = other.allocFloat32(8);
  assert.ok(next.byteOffset >= view.byteOffset + view.byteLength, 'the second handle continues after the first allocation');
  assert.equal(other.float32({ byteOffset: view.byteOffset, length: 8 })[0], 1.25);
  assert.equal(owner.allocationCount, 2);
});

test('arena rejects negative size', () => {
  const arena = new Arena();
  assert.throws(() => arena.allocate(-4), { name: 'RangeError', message: /-4 bytes is invalid/ });
});
