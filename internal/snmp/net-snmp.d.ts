// Minimal types for the parts of net-snmp 3.29 (CommonJS, no bundled types) that netscan uses:
// the command generator (createSession/createV3Session + get) and, for test simulators, the agent.
declare module 'net-snmp' {
  import type { EventEmitter } from 'node:events';

  /** One variable binding; `value` is a Buffer for OctetString, a dotted string for OID, a number for integers and TimeTicks. */
  interface Varbind {
    oid: string;
    type: number;
    value: unknown;
  }

  interface SessionOptions {
    port?: number;
    retries?: number;
    /** Per-attempt timeout in ms. */
    timeout?: number;
    backoff?: number;
    transport?: 'udp4' | 'udp6';
    version?: number;
    idBitsSize?: 16 | 32;
    context?: string;
    sourceAddress?: string;
    sourcePort?: number;
  }

  interface User {
    name: string;
    level: number;
    authProtocol?: number;
    authKey?: string;
    privProtocol?: number;
    privKey?: string;
  }

  interface Session extends EventEmitter {
    get(oids: string[], cb: (error: Error | null, varbinds?: Varbind[]) => void): Session;
    close(): Session;
  }

  function createSession(target: string, community: string, options?: SessionOptions): Session;
  function createV3Session(target: string, user: User, options?: SessionOptions): Session;
  function isVarbindError(vb: Varbind): boolean;

  const Version1: number;
  const Version2c: number;
  const Version3: number;
  const SecurityLevel: { noAuthNoPriv: number; authNoPriv: number; authPriv: number };
  const AuthProtocols: { md5: number; sha: number; sha224: number; sha256: number; sha384: number; sha512: number };
  const PrivProtocols: { des: number; aes: number; aes256b: number; aes256r: number };
  const ObjectType: Record<string, number>;
  const ErrorStatus: Record<string, number>;
  const ResponseInvalidCode: Record<string, number>;
  const MibProviderType: { Scalar: number; Table: number };
  const MaxAccess: Record<string, number>;
  const AccessControlModelType: { None: number; Simple: number };

  class RequestTimedOutError extends Error {}
  class RequestFailedError extends Error {
    status: number;
  }
  class ResponseInvalidError extends Error {
    code: number;
  }
  class RequestInvalidError extends Error {}

  interface ScalarProvider {
    name: string;
    type: number;
    oid: string;
    scalarType: number;
    maxAccess: number;
    handler?: (req: { done(err?: { errorStatus: number }): void; instanceNode: { value: unknown } }) => void;
  }

  interface Mib {
    registerProvider(def: ScalarProvider): void;
    setScalarValue(name: string, value: unknown): void;
  }

  interface Authorizer {
    addCommunity(community: string): void;
    addUser(user: User): void;
  }

  interface AgentOptions {
    port?: number;
    address?: string | null;
    disableAuthorization?: boolean;
    accessControlModelType?: number;
    engineID?: string;
    transport?: 'udp4' | 'udp6';
  }

  interface Agent {
    getMib(): Mib;
    getAuthorizer(): Authorizer;
    close(cb?: () => void): void;
  }

  function createAgent(options: AgentOptions, callback: (error: Error | null, data: unknown) => void): Agent;
}
