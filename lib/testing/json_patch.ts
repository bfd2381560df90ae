// A small RFC 6902 applier (add, replace, remove) for tests: what the API server does with a
// webhook's patch, so a test can assert on the pod that results rather than on the operations.

type Op = { op: string; path: string; value?: unknown };

function tokens(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new Error(`bad pointer ${pointer}`);
  return pointer.slice(1).split("/").map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"));
}

export function applyJsonPatch<T>(doc: T, ops: Op[]): T {
  let root = structuredClone(doc) as unknown;
  for (const o of ops) {
    const path = tokens(o.path);
    if (path.length === 0) {
      if (o.op === "remove") throw new Error("cannot remove the root");
      root = structuredClone(o.value);
      continue;
    }
    let parent = root as Record<string, unknown> | unknown[];
    for (const t of path.slice(0, -1)) {
      const next = Array.isArray(parent) ? parent[Number(t)] : (parent as Record<string, unknown>)[t];
      if (typeof next !== "object" || next === null) throw new Error(`path ${o.path} does not exist`);
      parent = next as Record<string, unknown>;
    }
    const last = path[path.length - 1] as string;
    if (Array.isArray(parent)) {
      const i = last === "-" ? parent.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > parent.length) throw new Error(`bad index in ${o.path}`);
      if (o.op === "add") parent.splice(i, 0, structuredClone(o.value));
      else if (o.op === "replace") {
        if (i >= parent.length) throw new Error(`replace of missing ${o.path}`);
        parent[i] = structuredClone(o.value);
      } else if (o.op === "remove") parent.splice(i, 1);
      else throw new Error(`op ${o.op} not supported`);
    } else {
      const obj = parent as Record<string, unknown>;
      if (o.op === "add") obj[last] = structuredClone(o.value);
      else if (o.op === "replace") {
        if (!(last in obj)) throw new Error(`replace of missing ${o.path}`);
        obj[last] = structuredClone(o.value);
      } else if (o.op === "remove") {
        if (!(last in obj)) throw new Error(`remove of missing ${o.path}`);
        delete obj[last];
      } else throw new Error(`op ${o.op} not supported`);
    }
  }
  return root as T;
}
