// Makes the variants SPECS (a JSON array of {name, width, height, fit, format, quality}, the
// same boxes, fit, format and quality attachd renders) from FILE, RUNS times in one Node
// process on one thread, and prints the median milliseconds of one upload's variants.
// Start-up is not counted: the first run warms up and is discarded.
//
//   node sharp.mjs FILE RUNS SPECS
//   node sharp.mjs FILE RUNS decode      (the decode alone, to raw pixels)
//
// Each variant is its own pipeline from the input buffer, awaited in turn, as a sharp user
// writes it. Not one `clone()` of a shared instance: in sharp a clone only shares the input,
// and each clone still runs its own libvips pipeline that decodes it again (at its own
// shrink-on-load scale), so the cost is the same; separate pipelines are the plain form for a
// Buffer input. So sharp decodes once per variant, where attachd decodes once per upload.
import sharp from "sharp";
import { readFileSync } from "node:fs";

sharp.concurrency(1);
sharp.cache(false);
const [file, runsArg, specsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 9);
const specs = specsArg === "decode" ? [] : JSON.parse(
  specsArg ??
    '[{"name":"thumb","width":256,"height":256,"fit":"inside","format":"webp","quality":80}]',
);
const input = readFileSync(file);
const decodeOnly = specsArg === "decode";
const variant = (spec) =>
  sharp(input, { limitInputPixels: 50_000_000 })
    .rotate()
    .resize(spec.width, spec.height, { fit: spec.fit, withoutEnlargement: true })
    .toFormat(spec.format, { quality: spec.quality })
    .toBuffer();
const once = async () => {
  if (decodeOnly) {
    await sharp(input, { limitInputPixels: 50_000_000 }).raw().toBuffer();
    return;
  }
  for (const spec of specs) await variant(spec);
};

await once();
const times = [];
for (let i = 0; i < runs; i++) {
  const t = process.hrtime.bigint();
  await once();
  times.push(Number(process.hrtime.bigint() - t) / 1e6);
}
times.sort((a, b) => a - b);
console.log(times[Math.floor(times.length / 2)].toFixed(2));
