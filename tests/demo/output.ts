/** Reads the demo's output until `marker` shows, or fails with what came so far. */
export async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  marker: string,
  ms: number,
): Promise<string> {
  let text = "";
  const deadline = Date.now() + ms;
  while (!text.includes(marker)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no "${marker}" within ${ms} ms; output so far:\n${text}`);
    const next = await Promise.race([
      reader.read(),
      new Promise<null>((r) => setTimeout(() => r(null), left)),
    ]);
    if (next === null) continue;
    if (next.done) throw new Error(`demo exited before "${marker}"; output:\n${text}`);
    text += next.value;
  }
  return text;
}
