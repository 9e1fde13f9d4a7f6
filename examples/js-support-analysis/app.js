// The `support-analysis` task in JavaScript, built with jco componentize
// (componentize-js / StarlingMonkey).
//
// Without arguments it does what examples/support-analysis does: resolves its
// one granted key and prints a summary (length, PostHog prefix), never the
// key, then asks for `billing-admin`, which this agent is not granted, and
// reports the denial.
//
// With arguments it is a hostile probe, one step per argument, printing one
// line per step (the steps and lines of examples/probe):
//   env            the environment the task sees (wasi:cli/environment)
//   read:PATH      try to open a host file (through every preopened dir)
//   list:PATH      try to list a host directory
//   connect:ADDR   try to open a TCP connection (IPv4:PORT, wasi:sockets)
//   inject:NAME:URL  GET URL (http) with `Authorization: Bearer <placeholder
//                  of NAME>`: the host swaps in the key, the task never holds
//                  it; prints the status
//   get:NAME       resolve NAME; prints its FNV-1a 64-bit checksum (no
//                  crypto module in the engine), never the value
//   raise:TEXT     throw an uncaught Error (its stack, exit 1)

import { getSecret, placeholder } from "scopehold:task/secrets@0.1.0";
import { handle } from "wasi:http/outgoing-handler@WASI_CLI";
import { Fields, OutgoingRequest } from "wasi:http/types@WASI_CLI";
import { getArguments, getEnvironment } from "wasi:cli/environment@WASI_CLI";
import { exit } from "wasi:cli/exit@WASI_CLI";
import { getDirectories } from "wasi:filesystem/preopens@WASI_CLI";
import { instanceNetwork } from "wasi:sockets/instance-network@WASI_CLI";
import { createTcpSocket } from "wasi:sockets/tcp-create-socket@WASI_CLI";

const GRANTED = "posthog-read";
const NOT_GRANTED = "billing-admin";

// A failed `get-secret` throws; the WIT error (`denied`, `unavailable`) is
// its payload.
function errorName(error) {
  const code = error && error.payload !== undefined ? error.payload : error;
  return code === "denied" ? "Denied" : code === "unavailable" ? "Unavailable" : `error ${code}`;
}

function supportAnalysis() {
  let key;
  try {
    key = getSecret(GRANTED);
  } catch (error) {
    console.log(`${GRANTED}: ${errorName(error)}`);
    exit({ tag: "err" });
    return;
  }
  const size = new TextEncoder().encode(key).length;
  const prefixed = key.startsWith("phc_") ? "yes" : "no";
  console.log(`${GRANTED}: resolved (${size} bytes, PostHog key prefix: ${prefixed})`);
  console.log(`analysis: would query PostHog events with a ${size}-byte key`);
  key = undefined;
  try {
    getSecret(NOT_GRANTED);
    console.log(`${NOT_GRANTED}: unexpectedly granted`);
    exit({ tag: "err" });
  } catch (error) {
    if (errorName(error) === "Denied") {
      console.log(`${NOT_GRANTED}: denied, as expected (not granted to this agent)`);
    } else {
      console.log(`${NOT_GRANTED}: ${errorName(error)}`);
    }
  }
}

// FNV-1a, 64-bit, over the UTF-8 bytes; the e2e test computes the same.
function fnv1a64(text) {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}

function describe(error) {
  return error && error.payload !== undefined ? error.payload : String(error);
}

// Opens PATH relative to each preopened directory (there should be none).
function open(path, flags) {
  const dirs = getDirectories();
  if (dirs.length === 0) throw "no preopened directories";
  let last;
  for (const [dir] of dirs) {
    try {
      return dir.openAt({}, path.replace(/^\/+/, ""), flags, { read: true });
    } catch (error) {
      last = error;
    }
  }
  throw last;
}

function read(path) {
  try {
    const file = open(path, {});
    const stream = file.readViaStream(0n);
    const bytes = stream.blockingRead(1n << 20n);
    console.log(`read ${path}: ok ${bytes.length} bytes`);
  } catch (error) {
    console.log(`read ${path}: error ${describe(error)}`);
  }
}

function list(path) {
  try {
    const dir = open(path, { directory: true });
    const entries = dir.readDirectory();
    let count = 0;
    while (entries.readDirectoryEntry()) count += 1;
    console.log(`list ${path}: ok ${count} entries`);
  } catch (error) {
    console.log(`list ${path}: error ${describe(error)}`);
  }
}

function connect(addr) {
  const [host, port] = addr.split(":");
  const address = host.split(".").map(Number);
  try {
    const socket = createTcpSocket("ipv4");
    const remote = { tag: "ipv4", val: { port: Number(port), address } };
    socket.startConnect(instanceNetwork(), remote);
    const pollable = socket.subscribe();
    for (;;) {
      try {
        socket.finishConnect();
        console.log(`connect ${addr}: ok`);
        return;
      } catch (error) {
        if (describe(error) !== "would-block") throw error;
        pollable.block();
      }
    }
  } catch (error) {
    console.log(`connect ${addr}: error ${describe(error)}`);
  }
}

function get(name) {
  try {
    const value = getSecret(name);
    const size = new TextEncoder().encode(value).length;
    console.log(`get ${name}: granted ${size} bytes fnv1a64=${fnv1a64(value)}`);
  } catch (error) {
    console.log(`get ${name}: ${errorName(error)}`);
  }
}

// A blocking GET over wasi:http with `token` as the bearer credential.
function httpGet(url, token) {
  const parsed = new URL(url);
  const auth = new TextEncoder().encode(`Bearer ${token}`);
  const request = new OutgoingRequest(Fields.fromList([["authorization", auth]]));
  request.setMethod({ tag: "get" });
  request.setScheme({ tag: parsed.protocol === "https:" ? "HTTPS" : "HTTP" });
  request.setAuthority(parsed.host);
  request.setPathWithQuery(parsed.pathname + parsed.search);
  const future = handle(request, undefined);
  future.subscribe().block();
  const outcome = future.get();
  if (outcome.tag !== "ok" || outcome.val.tag !== "ok") {
    throw `request failed: ${JSON.stringify(outcome.val.val ?? outcome.val)}`;
  }
  const response = outcome.val.val;
  const stream = response.consume().stream();
  let size = 0;
  for (;;) {
    try {
      size += stream.blockingRead(16384n).length;
    } catch (error) {
      if (describe(error).tag === "closed") return [response.status(), size];
      throw error;
    }
  }
}

function inject(arg) {
  const colon = arg.indexOf(":");
  const [name, url] = [arg.slice(0, colon), arg.slice(colon + 1)];
  let token;
  try {
    token = placeholder(name);
  } catch (error) {
    console.log(`inject: placeholder ${errorName(error)}`);
    return;
  }
  try {
    const [status, size] = httpGet(url, token);
    console.log(`inject: status ${status} (${size} bytes)`);
  } catch (error) {
    console.log(`inject: error ${JSON.stringify(describe(error))}`);
  }
}

function fail(message) {
  throw new Error(message);
}

function probe(step) {
  const colon = step.indexOf(":");
  const verb = colon < 0 ? step : step.slice(0, colon);
  const arg = colon < 0 ? "" : step.slice(colon + 1);
  if (verb === "env") {
    const names = getEnvironment().map(([name]) => name);
    console.log(`env: ${names.length} vars [${names.join(",")}]`);
  } else if (verb === "read") read(arg);
  else if (verb === "list") list(arg);
  else if (verb === "connect") connect(arg);
  else if (verb === "get") get(arg);
  else if (verb === "inject") inject(arg);
  else if (verb === "raise") fail(arg);
  else console.log(`unknown step ${step}`);
}

// An uncaught exception would end in a wasm trap: catch it at the task
// boundary, print the error and its stack, and exit 1.
export const run = {
  run() {
    try {
      const steps = getArguments().slice(1);
      if (steps.length === 0) supportAnalysis();
      else steps.forEach(probe);
    } catch (error) {
      console.error(error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : `Uncaught ${String(error)}`);
      exit({ tag: "err" });
    }
  },
};
