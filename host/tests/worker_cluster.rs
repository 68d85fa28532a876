//! `attachd worker` on a real Redis Cluster: three masters started by the test (Debian's
//! `redis-server` in cluster mode on free loopback ports, joined with `redis-cli --cluster
//! create`), a Node `bullmq` producer on an ioredis Cluster, the same hash-tagged prefix on
//! both sides. A prefix without a hash tag is refused before anything connects.

mod common;

use common::worker::{spawn_redis_server, wait_for, Stack, WorkerProcess, WAIT};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

const PROCESS: &str = "attachments.process";
const CLEANUP: &str = "attachments.cleanup.orphan";

/// Three cluster masters, stopped when dropped.
struct Cluster {
    nodes: Vec<Child>,
    ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        // Bound together, so the three ports differ; released just before the servers bind.
        let listeners: Vec<TcpListener> = (0..3)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        drop(listeners);
        let nodes = ports
            .iter()
            .map(|port| {
                let node_dir = dir.path().join(port.to_string());
                std::fs::create_dir(&node_dir).unwrap();
                spawn_redis_server(
                    *port,
                    &node_dir,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-node-timeout",
                        "5000",
                        "--appendonly",
                        "no",
                    ],
                )
            })
            .collect();
        let cluster = Cluster {
            nodes,
            ports,
            _dir: dir,
        };
        let members: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&members)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for port in &cluster.ports {
            wait_for("cluster_state:ok on every node", WAIT, || {
                let info = Command::new("redis-cli")
                    .args(["-p", &port.to_string(), "cluster", "info"])
                    .output()
                    .ok()?;
                String::from_utf8_lossy(&info.stdout)
                    .contains("cluster_state:ok")
                    .then_some(())
            });
        }
        cluster
    }

    /// A hash-tagged prefix whose slot the first node does not serve: a client that talked
    /// to the first seed alone, as to a single server, would get MOVED for every key.
    fn prefix_off_the_first_node(&self) -> String {
        loop {
            let prefix = format!("{{{}}}", common::worker::redis_prefix());
            let out = Command::new("redis-cli")
                .args(["-p", &self.ports[0].to_string(), "get"])
                .arg(format!("{prefix}:probe"))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            if text.contains("MOVED") {
                return prefix;
            }
        }
    }

    /// `ATTACH_REDIS_URL` for it: every node as a seed, comma-separated.
    fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/photo-orientation6.jpg")
}

/// `node bull.mjs` on the cluster, finished.
fn node(stack: &Stack, cluster: &Cluster, command: &str, args: Value) -> Value {
    let out = stack
        .node_command(command, args)
        .env("ATTACH_REDIS_URL", cluster.url())
        .output()
        .unwrap();
    common::worker::parse_node(out)
}

#[test]
fn node_jobs_on_a_redis_cluster_are_processed_with_a_hash_tagged_prefix_and_an_untagged_one_is_refused(
) {
    let cluster = Cluster::start();
    let mut stack = Stack::new();

    // Untagged: each queue's keys would spread over the slots, and BullMQ's scripts would
    // fail with CROSSSLOT. Refused at start, naming the fix.
    let refused = stack
        .attachd()
        .args(["worker", "--check"])
        .env("ATTACH_REDIS_URL", cluster.url())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("hash tag"), "{why}");

    stack.prefix = cluster.prefix_off_the_first_node();
    let check = stack
        .attachd()
        .args(["worker", "--check"])
        .env("ATTACH_REDIS_URL", cluster.url())
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{lines}");
    assert!(
        lines.contains(&format!("ok    redis     cluster {}", cluster.url())),
        "{lines}"
    );

    let upload = stack.ingest_file("uploads/photo.jpg", &[], &sample());
    // The worker gets one seed (the node that does not hold the queues' slot; the stray
    // comma is ignored) and is told it is a cluster: it finds the other nodes itself.
    let mut cmd = stack.attachd();
    cmd.arg("worker")
        .env(
            "ATTACH_REDIS_URL",
            format!("redis://127.0.0.1:{},", cluster.ports[0]),
        )
        .env("ATTACH_REDIS_CLUSTER", "1")
        .env("ATTACH_METRICS_ADDR", "127.0.0.1:0")
        .env("ATTACH_CLEANUP_CRON", "15m")
        .env("NO_COLOR", "1");
    let worker = WorkerProcess::start(cmd);

    let report = node(
        &stack,
        &cluster,
        "add",
        json!({
            "queue": PROCESS, "name": PROCESS,
            "data": { "fileKey": upload["fileKey"], "mimeType": upload["mimeType"], "size": upload["size"] },
            "opts": { "attempts": 2 },
            "watch": true,
        }),
    );
    assert_eq!(report["error"], Value::Null, "{report:#}");
    assert_eq!(report["result"]["status"], "ready", "{report:#}");
    assert_eq!(report["job"]["state"], "completed");
    assert_eq!(
        report["events"],
        json!(["added", "waiting", "active", "completed"])
    );

    // The cleanup job scheduler was registered on the cluster and Node reads it back.
    let cleanup = node(&stack, &cluster, "inspect", json!({ "queue": CLEANUP }));
    assert_eq!(cleanup["schedulersCount"], 1, "{cleanup:#}");
    assert_eq!(worker.http_get("/readyz"), (200, "ready\n".into()));
    worker.stop();
}
