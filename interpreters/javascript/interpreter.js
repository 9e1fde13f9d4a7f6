// The ScopeHold JavaScript interpreter component: runs the script it is
// given (componentize-js / StarlingMonkey).
//
// The runner passes the script's text on stdin (the script itself gets no
// stdin) and its name and arguments as the command's arguments, so
// `process.argv` is `["javascript", name, ...args]` as in Node. The script
// may import only the SDK, `import { getSecret, placeholder, fetch } from
// "scopehold"`; the JavaScript built-ins (JSON, Math, Date, RegExp, Map,
// Promise, TextEncoder/TextDecoder, URL, URLSearchParams, atob/btoa,
// crypto.getRandomValues, console) are globals. Any other import is an error
// naming what is available. The script runs as the body of an async
// function, so top-level `await` works. An uncaught exception or a syntax
// error prints the script's stack (file, line, column, message) and exits 1.

import { getSecret as witGetSecret, placeholder as witPlaceholder } from "scopehold:task/secrets@0.1.0";
import { handle } from "wasi:http/outgoing-handler@WASI_HTTP";
import { Fields, OutgoingBody, OutgoingRequest } from "wasi:http/types@WASI_HTTP";
import { getArguments, getEnvironment } from "wasi:cli/environment@WASI_CLI";
import { exit } from "wasi:cli/exit@WASI_CLI";
import { getStdin } from "wasi:cli/stdin@WASI_CLI";

const AVAILABLE = "scopehold (getSecret, placeholder, fetch); the JavaScript built-ins are globals";

class SecretError extends Error {
  constructor(name, reason) {
    super(`secret ${JSON.stringify(name)}: ${reason}`);
    this.name = "SecretError";
    this.secret = name;
    this.reason = reason;
  }
}

// A failed WIT call throws; its payload is the WIT error (`denied`, ...).
function secretCall(call, name) {
  try {
    return call(String(name));
  } catch (error) {
    const reason = error && error.payload !== undefined ? error.payload : "unavailable";
    throw new SecretError(name, reason);
  }
}

const getSecret = (name) => secretCall(witGetSecret, name);
const placeholder = (name) => secretCall(witPlaceholder, name);

class HttpError extends Error {
  constructor(message) {
    super(message);
    this.name = "HttpError";
  }
}

const METHODS = ["get", "head", "post", "put", "delete", "connect", "options", "trace", "patch"];

// fetch(url, { method, headers, body }): one request over wasi:http through
// the runner's egress gate, read whole. Returns a Promise (as the web's
// fetch does) of { status, ok, headers: Map, text(), json(), bytes() }.
function fetch(url, init = {}) {
  try {
    return Promise.resolve(send(String(url), init));
  } catch (error) {
    return Promise.reject(error);
  }
}

function send(url, init) {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new HttpError(`not an http(s) URL: ${url}`);
  }
  const encoder = new TextEncoder();
  const pairs = Object.entries(init.headers || {}).map(([k, v]) => [k.toLowerCase(), encoder.encode(String(v))]);
  const request = new OutgoingRequest(Fields.fromList(pairs));
  const method = String(init.method || "GET").toLowerCase();
  request.setMethod(METHODS.includes(method) ? { tag: method } : { tag: "other", val: method.toUpperCase() });
  request.setScheme({ tag: parsed.protocol === "https:" ? "HTTPS" : "HTTP" });
  request.setAuthority(parsed.host);
  request.setPathWithQuery(parsed.pathname + parsed.search);
  const outgoing = request.body();
  const future = handle(request, undefined);
  writeBody(outgoing, init.body === undefined ? new Uint8Array() : init.body);
  future.subscribe().block();
  const outcome = future.get();
  if (outcome === undefined || outcome.tag !== "ok" || outcome.val.tag !== "ok") {
    const detail = outcome && outcome.val ? JSON.stringify(outcome.val.val ?? outcome.val) : "no answer";
    throw new HttpError(`${method.toUpperCase()} ${url}: refused or failed (${detail})`);
  }
  const response = outcome.val.val;
  const headers = new Map();
  for (const [name, value] of response.headers().entries()) {
    headers.set(name.toLowerCase(), new TextDecoder().decode(value));
  }
  const body = readAll(response.consume().stream());
  return makeResponse(response.status(), headers, body);
}

function writeBody(outgoing, body) {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : new Uint8Array(body);
  const stream = outgoing.write();
  for (let start = 0; start < bytes.length; start += 4096) {
    stream.blockingWriteAndFlush(bytes.subarray(start, start + 4096));
  }
  stream[Symbol.dispose]?.();
  OutgoingBody.finish(outgoing, undefined);
}

function readAll(stream) {
  const chunks = [];
  let size = 0;
  for (;;) {
    try {
      const chunk = stream.blockingRead(65536n);
      chunks.push(chunk);
      size += chunk.length;
    } catch (error) {
      if (error && error.payload && error.payload.tag === "closed") break;
      throw error;
    }
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return all;
}

function makeResponse(status, headers, body) {
  const text = () => new TextDecoder().decode(body);
  return {
    status,
    ok: status >= 200 && status < 300,
    headers,
    bytes: async () => body,
    text: async () => text(),
    json: async () => JSON.parse(text()),
  };
}

const SDK = Object.freeze({ getSecret, placeholder, fetch, SecretError, HttpError });

class ScriptExit {
  constructor(code) {
    this.code = code;
  }
}

// `import ... from "scopehold"` becomes a destructuring of the SDK, on the
// same lines; any other import is refused before the script runs.
const IMPORT = /^([ \t]*)import(?=[\s{*])\s*([^;'"]*?)\s*from\s*(["'])([^"']+)\3\s*;?|^([ \t]*)import\s*(["'])([^"']+)\6\s*;?/gm;

class ImportRefused extends Error {
  constructor(module, line) {
    super(`module ${JSON.stringify(module)} is not available to ScopeHold scripts; available: ${AVAILABLE}`);
    this.name = "ImportError";
    this.line = line;
  }
}

function rewriteImports(source) {
  return source.replace(IMPORT, (match, indent, clause, _q, module, indent2, _q2, bare, offset) => {
    const line = source.slice(0, offset).split("\n").length;
    if ((module ?? bare) !== "scopehold" || bare !== undefined) {
      throw new ImportRefused(module ?? bare, line);
    }
    const lines = "\n".repeat(match.split("\n").length - 1);
    return `${indent}${bindings(clause.trim())};${lines}`;
  });
}

// `{ a, b as c }`, `* as sh`, `sh`, `sh, { a }` as declarations from SDK.
function bindings(clause) {
  const parts = [];
  const named = clause.match(/\{([^}]*)\}/);
  const rest = clause.replace(/\{[^}]*\}/, "").replace(/,/g, " ").trim();
  if (named) {
    const names = named[1].split(",").map((n) => n.trim()).filter(Boolean);
    parts.push(`const { ${names.map((n) => n.replace(/\s+as\s+/, ": ")).join(", ")} } = __scopehold`);
  }
  const star = rest.match(/^\*\s*as\s+([\w$]+)$/);
  if (star) parts.push(`const ${star[1]} = __scopehold`);
  else if (rest) parts.push(`const ${rest} = __scopehold`);
  return parts.join("; ");
}

function readStdin() {
  const stream = getStdin();
  const chunks = [];
  for (;;) {
    try {
      chunks.push(stream.blockingRead(65536n));
    } catch (error) {
      if (error && error.payload && error.payload.tag === "closed") break;
      throw error;
    }
  }
  let size = 0;
  for (const chunk of chunks) size += chunk.length;
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(all);
}

// The error as a script author reads it: name, message, then the script's
// own frames (`at function (file:line:column)`).
function report(error, name, source) {
  if (error instanceof ImportRefused) {
    return `${name}:${error.line}\n${error.name}: ${error.message}`;
  }
  if (!(error instanceof Error)) {
    return `Uncaught ${describe(error)}`;
  }
  const lines = [];
  if (error instanceof SyntaxError && error.lineNumber !== undefined && source !== undefined) {
    // Compiling the script is all that can fail this way: the position is
    // in the script (on line 1, after the wrapper's opening).
    const line = error.lineNumber;
    const column = (error.columnNumber ?? 1) - (line === 1 ? WRAPPER.length : 0);
    lines.push(`${name}:${line}:${column}`);
    const text = source.split("\n")[line - 1];
    if (text !== undefined) lines.push(`    ${text}`, `    ${" ".repeat(Math.max(column - 1, 0))}^`);
  }
  lines.push(`${error.name}: ${error.message}`);
  for (const frame of String(error.stack || "").split("\n")) {
    const at = frame.indexOf("@");
    if (at < 0) continue;
    const where = frame.slice(at + 1);
    if (!where.startsWith(`${name}:`)) continue;
    const fn = frame.slice(0, at) || "<script>";
    lines.push(`    at ${fn} (${where})`);
  }
  return lines.join("\n");
}

function describe(value) {
  try {
    return typeof value === "string" ? value : JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function makeProcess(name, args) {
  return {
    argv: ["javascript", name, ...args],
    env: Object.fromEntries(getEnvironment()),
    exit(code = 0) {
      throw new ScriptExit(code);
    },
  };
}

function finish(code) {
  exit(code === 0 ? { tag: "ok" } : { tag: "err" });
}

function fail(error, name, source) {
  if (error instanceof ScriptExit) {
    finish(Number(error.code) || 0);
    return;
  }
  console.error(report(error, name, source));
  finish(1);
}

const WRAPPER = "(async function (__scopehold, process) {";

function runScript() {
  const args = getArguments();
  const name = args[0] || "<script>";
  let script;
  let source;
  try {
    source = readStdin();
    // The script's first line stays line 1: the wrapper opens on it.
    const wrapped = `${WRAPPER}${rewriteImports(source)}\n})\n//# sourceURL=${name}`;
    script = (0, eval)(wrapped);
  } catch (error) {
    fail(error, name, source);
    return;
  }
  script(SDK, makeProcess(name, args.slice(1))).then(
    () => finish(0),
    (error) => fail(error, name),
  );
}

export const run = {
  run() {
    runScript();
  },
};
