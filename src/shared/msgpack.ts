/**
 * The MessagePack codec every part shares: the event store encodes each event once with it,
 * the socket protocol frames those bytes, the fleet exports them. Kept below them all.
 */
import { Packr, Unpackr } from 'msgpackr';

// Plain msgpack maps only: no records/structures (they need shared state and a msgpackr-only
// extension), so any msgpack library can speak the protocol.
// undefined has no msgpack type: encode it as nil rather than msgpackr's own extension.
const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });
// Other encoders (Python's msgpack, ...) send integers >= 2^32 as uint64/int64, which msgpackr
// decodes to bigint by default, and nothing downstream expects a bigint. 'auto' gives a number up
// to 2^53 (exact) and a bigint only beyond, which validation rejects by name. msgpackr supports
// 'auto' at runtime; its typings lag behind, hence the cast.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'number' });

export function encodeValue(value: unknown): Buffer {
  return packr.pack(value);
}

export function decodeValue(bytes: Uint8Array): unknown {
  const value = unpackr.unpack(bytes);
  // msgpackr turns the never-used byte 0xc1 into a marker object instead of failing.
  if (typeof value === 'object' && value !== null && value.constructor?.name === 'C1Type') throw new Error('byte 0xc1 is not valid MessagePack');
  return value;
}
