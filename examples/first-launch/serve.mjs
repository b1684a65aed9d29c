// A tiny static file server for the example's release artifacts (the
// "registry" the VM pulls from): serves DIR on 127.0.0.1:PORT (0 = any free
// port) and prints "listening on PORT" once it accepts connections. The VM
// reaches it as http://10.0.2.2:PORT through QEMU's user-mode network.
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import * as path from 'node:path';

const [dir = '.', port = '0'] = process.argv.slice(2);
const root = path.resolve(dir);
const server = createServer((req, res) => {
  const name = path.normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
  const file = path.join(root, name);
  if (!file.startsWith(root + path.sep) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
    res.writeHead(404).end('not found\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  createReadStream(file).pipe(res);
});
server.listen(Number(port), '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening on ${typeof address === 'object' && address ? address.port : port}`);
});
