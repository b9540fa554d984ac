// The proxy moved to test/tcp-proxy.ts (one for every test folder); this path stays only so
// that branches written against it still compile. Import from '../tcp-proxy.js'.
export { TcpProxy, startTcpProxy, type Direction } from '../tcp-proxy.js';
