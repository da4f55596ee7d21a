// Minimal types for the parts of raw-socket (CommonJS, no bundled types) that netscan uses.
declare module 'raw-socket' {
  import type { EventEmitter } from 'node:events';

  /** The native handle: synchronous sendto/recvfrom on a non-blocking socket. */
  interface SocketWrap extends EventEmitter {
    send(buffer: Buffer, offset: number, length: number, address: string, cb: (bytes: number) => void): void;
    recv(buffer: Buffer, cb: (buffer: Buffer, bytes: number, source: string) => void): void;
    pause(recvPaused: boolean, sendPaused: boolean): void;
    close(): void;
  }

  interface Socket extends EventEmitter {
    wrap: SocketWrap;
    close(): Socket;
    setOption(level: number, option: number, value: number): void;
    setOption(level: number, option: number, value: Buffer, length: number): void;
    getOption(level: number, option: number, value: Buffer, length: number): number;
    pauseSend(): Socket;
    resumeSend(): Socket;
  }

  interface CreateSocketOptions {
    protocol?: number;
    addressFamily?: number;
    bufferSize?: number;
  }

  const raw: {
    createSocket(opts?: CreateSocketOptions): Socket;
    AddressFamily: { IPv4: number; IPv6: number };
    Protocol: { ICMP: number; ICMPv6: number };
    SocketLevel: { SOL_SOCKET: number; IPPROTO_IP: number; IPPROTO_IPV6: number };
    SocketOption: { SO_RCVBUF: number; SO_SNDBUF: number; IP_HDRINCL: number; IP_TTL: number };
  };
  export default raw;
}
