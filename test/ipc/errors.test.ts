import { describe, expect, it } from 'vitest';
import { RpcError } from '../../src/ipc/clientErrors.js';
import { ErrorCode, ProtocolError } from '../../src/ipc/messages.js';

describe('coded errors', () => {
  it('keep their own class and name, code and data (one base, two sides of the wire)', () => {
    const server = new ProtocolError(ErrorCode.LIMIT_EXCEEDED, 'too many', { limit: 3 });
    const client = new RpcError(ErrorCode.JOB_NOT_FOUND, 'no such job');
    expect([server.name, client.name]).toEqual(['ProtocolError', 'RpcError']);
    expect(client).not.toBeInstanceOf(ProtocolError);
    expect(server).not.toBeInstanceOf(RpcError);
    expect(String(client)).toBe('RpcError: no such job');
    expect(server.toBody()).toEqual({ code: -32004, message: 'too many', data: { limit: 3 } });
    expect(new ProtocolError(-32601, 'x').toBody()).toEqual({ code: -32601, message: 'x' });
    expect([client.code, client.data]).toEqual([-32000, undefined]);
  });
});
