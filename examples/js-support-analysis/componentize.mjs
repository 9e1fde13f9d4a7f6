// Builds a component with the componentize-js API (what `jco componentize`
// wraps; the jco 1.35 CLI fails to read WIT directories given by absolute
// path, so build.sh calls the API directly).
// Usage: node componentize.mjs SOURCE WIT_DIR WORLD OUT
import { componentize } from "@bytecodealliance/componentize-js";
import { writeFile } from "node:fs/promises";

const [sourcePath, witPath, worldName, out] = process.argv.slice(2);
const { component } = await componentize({ sourcePath, witPath, worldName });
await writeFile(out, component);
