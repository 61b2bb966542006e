// ShareDB as its own examples serve it: a ShareDB backend on sharedb-postgres (op journal and
// snapshots in PostgreSQL) and sharedb-redis-pubsub (fan-out between processes through Redis),
// JSON over WebSockets with `ws` and @teamwork/websocket-json-stream.
//
//   node bench/sharedb/server.js PORT
//
// DATABASE_URL: the PostgreSQL database, its tables made by structure.sql (the bench runs it);
// REDIS_URL: the Redis. The bench (bench/sharedb_peer.py) starts one such process per worker.
// sharedb-postgres and sharedb-redis-pubsub ask for sharedb ^1 to ^5 for their DB and PubSub
// base classes; package.json's `overrides` gives them this ShareDB (7.0.0), so one runs.
'use strict';

const http = require('http');
const ShareDB = require('sharedb');
const ShareDBPostgres = require('sharedb-postgres');
const ShareDBRedisPubSub = require('sharedb-redis-pubsub');
const WebSocket = require('ws');
const WebSocketJSONStream = require('@teamwork/websocket-json-stream');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.js PORT (with DATABASE_URL and REDIS_URL set)');
  process.exit(2);
}
for (const name of ['DATABASE_URL', 'REDIS_URL']) {
  if (!process.env[name]) {
    console.error(`server.js: ${name} is not set`);
    process.exit(2);
  }
}

// sharedb-postgres hands its options to pg.Pool: the pool's default size (10) unless
// SHAREDB_PG_POOL says otherwise.
const db = ShareDBPostgres({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.SHAREDB_PG_POOL) || undefined,
});
const pubsub = ShareDBRedisPubSub({url: process.env.REDIS_URL});
const backend = new ShareDB({db, pubsub});
backend.on('error', (error) => console.error('sharedb:', error));

const server = http.createServer();
const wss = new WebSocket.Server({server});
wss.on('connection', (ws) => {
  backend.listen(new WebSocketJSONStream(ws));
});
server.listen(port, '127.0.0.1');

function stop() {
  server.close();
  for (const ws of wss.clients) ws.terminate();
  backend.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
