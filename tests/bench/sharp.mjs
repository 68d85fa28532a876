// Thumbnails FILE to the `thumb` variant (256 px box, WebP q80) RUNS times in one Node
// process on one thread, and prints the median milliseconds. Start-up is not counted: the
// first run warms up and is discarded.
import sharp from "sharp";
import { readFileSync } from "node:fs";

sharp.concurrency(1);
sharp.cache(false);
const [file, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 9);
const input = readFileSync(file);
const once = () =>
  sharp(input, { limitInputPixels: 50_000_000 })
    .rotate()
    .resize(256, 256, { fit: "inside", withoutEnlargement: true })
    .webp({ quality: 80 })
    .toBuffer();

await once();
const times = [];
for (let i = 0; i < runs; i++) {
  const t = process.hrtime.bigint();
  await once();
  times.push(Number(process.hrtime.bigint() - t) / 1e6);
}
times.sort((a, b) => a - b);
console.log(times[Math.floor(times.length / 2)].toFixed(2));
