// The Node side of attachd's BullMQ interop tests and queue bench: a producer, an observer
// and a reference Worker, all plain npm `bullmq` (pinned in package.json), so what attachd
// writes to Redis is read back exactly as the Node API and dashboards would read it.
//
//   node bull.mjs <command> '<json args>'      prints one JSON line on stdout
//
// Commands:
//   add      {queue, name, data, opts, watch?, timeoutMs?}  add a job; with watch, wait until it
//            finishes and report its events, state, attempts and the queue's counts
//   watch    {queue, jobId, timeoutMs?}                     the same for a job already added
//   inspect  {queue, jobId?, completed?}                    counts, schedulers, job (if given),
//            ids of completed jobs (with completed)
//   pause    {queue}                                        pause the queue for every worker
//   resume   {queue}                                        resume it
//   stream   {queue, name, payloads | payloadsFile, intervalMs, opts?}  add one job per
//            payload, intervalMs apart (a steady stream); prints their ids
//   fill     {queue, name, data, count}                     addBulk `count` jobs (the bench)
//   jobs     {queue}                                        every job of the queue, any state, oldest
//            first: id, name, data, state, delay (0 once promoted), opts, timestamp, attempts,
//            failedReason, returnvalue, processedOn, finishedOn
//   worker   {queue, concurrency}                           a reference Node Worker (the bench):
//            prints {"ready":true}, starts on a line on stdin, runs until killed
// Common args: prefix (default "attach"); Redis from ATTACH_REDIS_URL.
import { Queue, QueueEvents, Worker, Job } from 'bullmq';
import IORedis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

const [command, rawArgs] = process.argv.slice(2);
const args = JSON.parse(rawArgs || '{}');
const prefix = args.prefix || 'attach';
// Several comma-separated URLs, or ATTACH_REDIS_CLUSTER=1: a Redis Cluster's seed nodes, as
// attachd reads them. BullMQ takes an ioredis Cluster as its connection (the prefix must then
// hold a hash tag, such as {attach}); its blocking connections are duplicates of it.
const urls = (process.env.ATTACH_REDIS_URL || 'redis://127.0.0.1:6379').split(',').map((u) => new URL(u.trim()));
const cluster = urls.length > 1 || process.env.ATTACH_REDIS_CLUSTER === '1';
const redisOptions = (url) => ({
  host: url.hostname,
  port: Number(url.port || 6379),
  // BullMQ's blocking connections need this; harmless on the others.
  maxRetriesPerRequest: null,
  ...(cluster ? {} : { db: Number(url.pathname.slice(1) || 0) }),
});
const newClient = () =>
  cluster
    ? new IORedis.Cluster(urls.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })), {
        redisOptions: { maxRetriesPerRequest: null },
      })
    : new IORedis(redisOptions(urls[0]));
const connection = cluster ? newClient() : redisOptions(urls[0]);
const print = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const EVENTS = ['added', 'waiting', 'active', 'delayed', 'completed', 'failed', 'retries-exhausted', 'stalled'];

async function describe(queue, jobId) {
  const job = jobId ? await Job.fromId(queue, jobId) : undefined;
  return {
    counts: await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'),
    schedulers: (await queue.getJobSchedulers()).map((s) => ({ key: s.key, name: s.name, every: s.every, pattern: s.pattern, next: s.next })),
    schedulersCount: await queue.getJobSchedulersCount(),
    completedIds: args.completed ? (await queue.getCompleted(0, -1)).map((j) => j.id) : undefined,
    job: job && {
      id: job.id,
      name: job.name,
      state: await job.getState(),
      attemptsMade: job.attemptsMade,
      attemptsStarted: job.attemptsStarted,
      failedReason: job.failedReason ?? null,
      returnvalue: job.returnvalue ?? null,
      processedBy: job.processedBy ?? null,
      delay: job.delay,
      opts: job.opts,
      finishedOn: job.finishedOn ?? null,
    },
  };
}

// Waits for `jobId` to finish through QueueEvents (the way the Node API does), then reports
// every event the job produced: as Node's QueueEvents delivered them, and as the stream holds
// them (the two must agree).
async function watch(queue, events, seen, jobId, timeoutMs) {
  const job = await Job.fromId(queue, jobId);
  let result = null;
  let error = null;
  try {
    result = await job.waitUntilFinished(events, timeoutMs);
  } catch (e) {
    error = e.message;
  }
  const client = newClient();
  const stream = (await client.xrange(`${prefix}:${queue.name}:events`, '-', '+'))
    .map(([id, fields]) => {
      const o = { streamId: id };
      for (let i = 0; i < fields.length; i += 2) o[fields[i]] = fields[i + 1];
      return o;
    })
    .filter((e) => e.jobId === jobId);
  client.disconnect();
  // Everything in the stream reaches the listener; wait (bounded) for the last of it.
  const deadline = Date.now() + 5000;
  while (seen.length < stream.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return { result, error, events: seen.map((e) => e.event), stream, listened: seen, ...(await describe(queue, jobId)) };
}

function listen(events, jobIdRef) {
  const seen = [];
  for (const name of EVENTS) {
    events.on(name, (a, streamId) => {
      if (a && a.jobId === jobIdRef.id) seen.push({ event: name, streamId, ...a });
    });
  }
  return seen;
}

async function main() {
  const queue = new Queue(args.queue, { connection, prefix });
  try {
    switch (command) {
      case 'add': {
        const opts = { ...(args.opts || {}) };
        opts.jobId = opts.jobId || randomUUID();
        let events, seen;
        const ref = { id: opts.jobId };
        if (args.watch) {
          events = new QueueEvents(args.queue, { connection, prefix, lastEventId: '0-0' });
          await events.waitUntilReady();
          seen = listen(events, ref);
        }
        const job = await queue.add(args.name, args.data, opts);
        if (!args.watch) {
          print({ jobId: job.id });
          break;
        }
        print(await watch(queue, events, seen, job.id, args.timeoutMs || 60000));
        await events.close();
        break;
      }
      case 'watch': {
        const events = new QueueEvents(args.queue, { connection, prefix, lastEventId: '0-0' });
        await events.waitUntilReady();
        const seen = listen(events, { id: args.jobId });
        print(await watch(queue, events, seen, args.jobId, args.timeoutMs || 60000));
        await events.close();
        break;
      }
      case 'inspect':
        print(await describe(queue, args.jobId));
        break;
      case 'pause':
        // Global pause, as an operator pauses a queue from a dashboard: no worker takes jobs.
        await queue.pause();
        print({ paused: await queue.isPaused() });
        break;
      case 'resume':
        await queue.resume();
        print({ paused: await queue.isPaused() });
        break;
      case 'jobs': {
        const states = ['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized', 'paused'];
        const jobs = (await queue.getJobs(states, 0, -1, true)).filter(Boolean);
        const out = [];
        for (const job of jobs) {
          out.push({
            id: job.id, name: job.name, data: job.data, state: await job.getState(),
            delay: job.delay, opts: job.opts, timestamp: job.timestamp, attemptsMade: job.attemptsMade,
            attemptsStarted: job.attemptsStarted, failedReason: job.failedReason ?? null,
            returnvalue: job.returnvalue ?? null, processedOn: job.processedOn ?? null,
            finishedOn: job.finishedOn ?? null,
          });
        }
        out.sort((a, b) => a.timestamp - b.timestamp);
        print({ jobs: out });
        break;
      }
      case 'stream': {
        // One job per payload, `intervalMs` apart: a steady stream, as an API adds uploads.
        // payloadsFile: a JSON array in a file, for more payloads than one argument holds.
        const payloads = args.payloads || JSON.parse(readFileSync(args.payloadsFile, 'utf8'));
        const ids = [];
        for (const data of payloads) {
          const job = await queue.add(args.name, data, args.opts || {});
          ids.push(job.id);
          await new Promise((r) => setTimeout(r, args.intervalMs));
        }
        print({ ids });
        break;
      }
      case 'fill': {
        const chunk = 1000;
        for (let done = 0; done < args.count; done += chunk) {
          const n = Math.min(chunk, args.count - done);
          await queue.addBulk(Array.from({ length: n }, () => ({ name: args.name, data: args.data })));
        }
        print({ filled: args.count });
        break;
      }
      case 'worker': {
        const worker = new Worker(args.queue, async () => ({ ok: true }), {
          connection, prefix, concurrency: args.concurrency, autorun: false,
        });
        await worker.waitUntilReady();
        print({ ready: true });
        process.stdin.once('data', () => worker.run());
        await new Promise(() => {});
        break;
      }
      default:
        throw new Error(`unknown command ${command}`);
    }
  } finally {
    await queue.close();
  }
}

// Exit only once stdout has been flushed: on a pipe, writes are asynchronous, and exiting at
// once cut a large report off at 64 KiB.
main().then(() => process.stdout.write('', () => process.exit(0)), (e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
