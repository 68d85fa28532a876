//! The storage contract. Each behaviour is written once against `&dyn Storage` and run against
//! both backends (`local::…` and `s3::…`, the latter on an in-process s3s-fs server that checks
//! SigV4); then what only one backend can show: links planted in the local root, an S3
//! endpoint that is down, and S3 credentials that are wrong.

mod common;

use attachd::error::{Class, ErrorCode};
use attachd::storage::{
    validate_key, variant_key, variants_prefix, LocalStorage, ObjectMeta, S3Storage, Storage,
    StorageError,
};
use bytes::Bytes;
use common::s3::S3Server;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A backend under test and whatever must live as long as it (its folder, its server).
struct Fixture {
    storage: Arc<dyn Storage>,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn local_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = LocalStorage::open(dir.path().join("objects"))
        .await
        .expect("open local storage");
    Fixture {
        storage: Arc::new(storage),
        _keep: Box::new(dir),
    }
}

async fn s3_fixture() -> Fixture {
    let server = S3Server::start().await;
    let storage = S3Storage::new(server.settings()).await.expect("S3 storage");
    Fixture {
        storage: Arc::new(storage),
        _keep: Box::new(server),
    }
}

/// Generates one `#[tokio::test]` per case per backend.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $case() {
                    let fixture = super::local_fixture().await;
                    super::$case(&*fixture.storage).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test]
                async fn $case() {
                    let fixture = super::s3_fixture().await;
                    super::$case(&*fixture.storage).await;
                }
            )*
        }
    };
}

on_both_backends!(
    put_then_get_returns_the_same_bytes,
    put_overwrites_an_existing_object,
    get_of_a_missing_key_is_a_permanent_not_found,
    get_over_max_bytes_is_a_permanent_too_large,
    head_reports_size_and_time_and_none_when_absent,
    delete_is_idempotent,
    delete_prefix_removes_only_that_folder,
    delete_prefix_refuses_anything_but_a_folder,
    list_is_in_key_order_and_filtered_by_prefix,
    list_pages_with_start_after_and_limit,
    copy_duplicates_an_object_and_keeps_the_source,
    copy_of_a_missing_object_is_not_found,
    keys_with_spaces_and_unicode_round_trip,
    object_larger_than_the_multipart_threshold_round_trips,
    invalid_keys_are_refused_by_every_operation,
);

fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn keys(list: &[ObjectMeta]) -> Vec<&str> {
    list.iter().map(|m| m.key.as_str()).collect()
}

async fn put_all(storage: &dyn Storage, keys: &[&str]) {
    for key in keys {
        storage
            .put(key, bytes(key), "text/plain")
            .await
            .expect("put");
    }
}

async fn put_then_get_returns_the_same_bytes(storage: &dyn Storage) {
    storage
        .put("f1", bytes("hello"), "text/plain")
        .await
        .expect("put");
    assert_eq!(storage.get("f1", 1024).await.expect("get"), b"hello");
    storage
        .put("a/b/c/deep.bin", Bytes::new(), "application/octet-stream")
        .await
        .expect("put empty");
    assert_eq!(
        storage.get("a/b/c/deep.bin", 0).await.expect("get empty"),
        b""
    );
}

async fn put_overwrites_an_existing_object(storage: &dyn Storage) {
    storage
        .put("f1", bytes("first version, longer"), "text/plain")
        .await
        .expect("put");
    storage
        .put("f1", bytes("second"), "text/plain")
        .await
        .expect("overwrite");
    assert_eq!(storage.get("f1", 1024).await.expect("get"), b"second");
    assert_eq!(
        storage.head("f1").await.expect("head").map(|m| m.size),
        Some(6)
    );
}

async fn get_of_a_missing_key_is_a_permanent_not_found(storage: &dyn Storage) {
    for key in ["missing", "no/such/folder/file"] {
        let err = storage.get(key, 1024).await.expect_err("missing object");
        assert!(
            matches!(&err, StorageError::NotFound { key: k } if k == key),
            "{err:?}"
        );
        assert_eq!(err.code(), "object-not-found");
        assert_eq!(err.class(), Class::Permanent);
    }
}

async fn get_over_max_bytes_is_a_permanent_too_large(storage: &dyn Storage) {
    storage
        .put(
            "big",
            Bytes::from(vec![7u8; 1000]),
            "application/octet-stream",
        )
        .await
        .expect("put");
    assert_eq!(
        storage
            .get("big", 1000)
            .await
            .expect("exactly at the limit")
            .len(),
        1000
    );
    let err = storage.get("big", 999).await.expect_err("over the limit");
    // The declared (or stat'ed) size is refused before any byte is read.
    assert!(
        matches!(
            err,
            StorageError::TooLarge {
                size: 1000,
                max: 999,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "input-too-large");
    assert_eq!(err.class(), Class::Permanent);
}

async fn head_reports_size_and_time_and_none_when_absent(storage: &dyn Storage) {
    let before = chrono::Utc::now() - chrono::Duration::minutes(5);
    storage
        .put("dir/f", bytes("12345"), "text/plain")
        .await
        .expect("put");
    let meta = storage.head("dir/f").await.expect("head").expect("present");
    assert_eq!(meta.key, "dir/f");
    assert_eq!(meta.size, 5);
    let modified = meta.modified.expect("a modification time");
    assert!(
        modified > before && modified < chrono::Utc::now() + chrono::Duration::minutes(5),
        "{modified}"
    );
    assert_eq!(storage.head("dir/absent").await.expect("head"), None);
    assert_eq!(storage.head("absent/dir/f").await.expect("head"), None);
}

async fn delete_is_idempotent(storage: &dyn Storage) {
    storage
        .put("gone/soon", bytes("x"), "text/plain")
        .await
        .expect("put");
    storage.delete("gone/soon").await.expect("delete");
    assert_eq!(storage.head("gone/soon").await.expect("head"), None);
    storage.delete("gone/soon").await.expect("delete again");
    storage
        .delete("never/existed")
        .await
        .expect("delete a key never written");
}

async fn delete_prefix_removes_only_that_folder(storage: &dyn Storage) {
    let f1_variants = [
        variant_key("f1", "thumb", "webp"),
        variant_key("f1", "small", "jpg"),
        format!("{}nested/deeper", variants_prefix("f1")),
    ];
    for key in &f1_variants {
        storage
            .put(key, bytes(key), "image/webp")
            .await
            .expect("put variant");
    }
    // (No object `f1` itself: s3s-fs keeps keys as paths, so it cannot hold `f1` and `f1/…` at once; the
    // local backend can, see `local_only::an_object_and_a_folder_can_share_a_name`.)
    let kept = [
        "f1/original",
        "f1/variants-old/x",
        "f1/variantsx",
        "f10/variants/thumb.webp",
        "g/f1/variants/x",
    ];
    put_all(storage, &kept).await;

    assert_eq!(
        storage
            .delete_prefix(&variants_prefix("f1"))
            .await
            .expect("delete_prefix"),
        3
    );
    for key in &f1_variants {
        assert_eq!(
            storage.head(key).await.expect("head"),
            None,
            "{key} should be gone"
        );
    }
    assert_eq!(
        keys(&storage.list("", None, 100).await.expect("list")),
        kept
    );
    assert_eq!(
        storage
            .delete_prefix(&variants_prefix("f1"))
            .await
            .expect("again"),
        0
    );
    assert_eq!(
        storage
            .delete_prefix("nothing/here/")
            .await
            .expect("missing folder"),
        0
    );
}

async fn delete_prefix_refuses_anything_but_a_folder(storage: &dyn Storage) {
    put_all(storage, &["f1/variants/a", "f1/variantsx"]).await;
    for prefix in ["", "/", "f1/variants", "f1//", "../", "f1/../"] {
        let err = storage.delete_prefix(prefix).await.expect_err(prefix);
        assert!(
            matches!(err, StorageError::InvalidKey { .. }),
            "{prefix:?}: {err:?}"
        );
    }
    assert_eq!(
        storage.list("", None, 10).await.expect("list").len(),
        2,
        "nothing was deleted"
    );
}

/// Written out of order; `p/a-1` sorts before `p/a/x` because `-` < `/`, which a listing that
/// walks folders before files would get wrong.
const LISTED: [&str; 7] = ["q/z", "p/c/d/e", "p/b", "pp/1", "p/a/y", "p/a-1", "p/a/x"];

async fn list_is_in_key_order_and_filtered_by_prefix(storage: &dyn Storage) {
    put_all(storage, &LISTED).await;
    let all = storage.list("", None, 100).await.expect("list all");
    assert_eq!(
        keys(&all),
        ["p/a-1", "p/a/x", "p/a/y", "p/b", "p/c/d/e", "pp/1", "q/z"]
    );
    for meta in &all {
        assert_eq!(meta.size, meta.key.len() as u64, "{}", meta.key);
        assert!(meta.modified.is_some(), "{}", meta.key);
    }
    let under_p = storage.list("p/", None, 100).await.expect("list p/");
    assert_eq!(
        keys(&under_p),
        ["p/a-1", "p/a/x", "p/a/y", "p/b", "p/c/d/e"]
    );
    let p = storage.list("p", None, 100).await.expect("list p");
    assert_eq!(
        keys(&p),
        ["p/a-1", "p/a/x", "p/a/y", "p/b", "p/c/d/e", "pp/1"]
    );
    let partial = storage.list("p/a", None, 100).await.expect("list p/a");
    assert_eq!(keys(&partial), ["p/a-1", "p/a/x", "p/a/y"]);
    assert!(storage
        .list("nothing/", None, 100)
        .await
        .expect("list nothing")
        .is_empty());
    let err = storage.list("../", None, 10).await.expect_err("bad prefix");
    assert!(matches!(err, StorageError::InvalidKey { .. }), "{err:?}");
}

async fn list_pages_with_start_after_and_limit(storage: &dyn Storage) {
    put_all(storage, &LISTED).await;
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = storage.list("p/", after.as_deref(), 2).await.expect("page");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        paged.extend(page);
    }
    assert_eq!(keys(&paged), ["p/a-1", "p/a/x", "p/a/y", "p/b", "p/c/d/e"]);
    // `start_after` need not be a key: `p/a0` sorts after everything under `p/a/`.
    let after_a = storage
        .list("p/", Some("p/a0"), 10)
        .await
        .expect("after p/a0");
    assert_eq!(keys(&after_a), ["p/b", "p/c/d/e"]);
    let inside = storage
        .list("", Some("p/a/x"), 2)
        .await
        .expect("after p/a/x");
    assert_eq!(keys(&inside), ["p/a/y", "p/b"]);
    assert!(storage.list("", None, 0).await.expect("limit 0").is_empty());
}

async fn copy_duplicates_an_object_and_keeps_the_source(storage: &dyn Storage) {
    storage
        .put("in/file", bytes("infected?"), "application/pdf")
        .await
        .expect("put");
    storage
        .copy("in/file", "quarantine/in/file")
        .await
        .expect("copy");
    assert_eq!(
        storage
            .get("quarantine/in/file", 100)
            .await
            .expect("get copy"),
        b"infected?"
    );
    assert_eq!(
        storage.get("in/file", 100).await.expect("get source"),
        b"infected?"
    );
    // Copying over an existing object replaces it.
    storage
        .put("other", bytes("other"), "text/plain")
        .await
        .expect("put other");
    storage
        .copy("other", "quarantine/in/file")
        .await
        .expect("copy over");
    assert_eq!(
        storage.get("quarantine/in/file", 100).await.expect("get"),
        b"other"
    );
}

async fn copy_of_a_missing_object_is_not_found(storage: &dyn Storage) {
    let err = storage
        .copy("absent", "dest")
        .await
        .expect_err("missing source");
    assert!(
        matches!(&err, StorageError::NotFound { key } if key == "absent"),
        "{err:?}"
    );
    assert_eq!(storage.head("dest").await.expect("head"), None);
}

async fn keys_with_spaces_and_unicode_round_trip(storage: &dyn Storage) {
    let key = "dir with space/ünïcødé +%&=?#.txt";
    storage
        .put(key, bytes("odd"), "text/plain")
        .await
        .expect("put");
    assert_eq!(storage.get(key, 10).await.expect("get"), b"odd");
    storage.copy(key, "copied/ü +%.txt").await.expect("copy");
    assert_eq!(
        storage.get("copied/ü +%.txt", 10).await.expect("get copy"),
        b"odd"
    );
    assert_eq!(
        keys(
            &storage
                .list("dir with space/", None, 10)
                .await
                .expect("list")
        ),
        [key]
    );
}

/// Over the test threshold of 5 MiB: on S3, three parts of 5, 5 and 1 MiB.
const LARGE: usize = 11 * 1024 * 1024 + 123;

fn large_object() -> Bytes {
    // Not uniform, so a part written at the wrong offset or twice would show.
    (0..LARGE)
        .map(|i| (i % 251) as u8 ^ (i / 4096) as u8)
        .collect::<Vec<u8>>()
        .into()
}

async fn object_larger_than_the_multipart_threshold_round_trips(storage: &dyn Storage) {
    let data = large_object();
    storage
        .put("large/object", data.clone(), "application/octet-stream")
        .await
        .expect("put large");
    assert_eq!(
        storage
            .head("large/object")
            .await
            .expect("head")
            .map(|m| m.size),
        Some(LARGE as u64)
    );
    let read = storage
        .get("large/object", LARGE as u64)
        .await
        .expect("get large");
    assert!(read == data, "large object came back different");
}

/// Keys every operation must refuse before touching the store.
const INVALID_KEYS: &[&str] = &[
    "../x", "/abs", "a/../b", "a//b", "a\\b", "", "a/./b", "a\0b", "a/", ".", "..", "a\nb",
];

async fn invalid_keys_are_refused_by_every_operation(storage: &dyn Storage) {
    storage
        .put("valid", bytes("v"), "text/plain")
        .await
        .expect("put valid");
    for &key in INVALID_KEYS {
        assert!(validate_key(key).is_err(), "{key:?}");
        let results = [
            storage.get(key, 10).await.map(drop),
            storage.put(key, bytes("x"), "text/plain").await,
            storage.head(key).await.map(drop),
            storage.delete(key).await,
            storage.copy("valid", key).await,
            storage.copy(key, "valid-copy").await,
        ];
        for (op, result) in ["get", "put", "head", "delete", "copy to", "copy from"]
            .iter()
            .zip(results)
        {
            let err = result.expect_err(&format!("{op} {key:?}"));
            assert!(
                matches!(err, StorageError::InvalidKey { .. }),
                "{op} {key:?}: {err:?}"
            );
            assert_eq!(err.code(), "invalid-key");
            assert_eq!(err.class(), Class::Permanent);
        }
    }
    assert_eq!(
        keys(&storage.list("", None, 10).await.expect("list")),
        ["valid"],
        "nothing else was written"
    );
}

#[test]
fn variant_keys_are_deterministic_and_under_the_variants_prefix() {
    let key = variant_key("uploads/2024/abc", "thumb", "webp");
    assert_eq!(key, "variants/uploads/2024/abc/thumb.webp");
    assert_eq!(
        attachd::storage::variant_owner(&key),
        Some("uploads/2024/abc")
    );
    assert_eq!(attachd::storage::variant_owner("uploads/2024/abc"), None);
    assert_eq!(key, variant_key("uploads/2024/abc", "thumb", "webp"));
    assert_eq!(
        variants_prefix("uploads/2024/abc"),
        "variants/uploads/2024/abc/"
    );
    assert!(key.starts_with(&variants_prefix("uploads/2024/abc")));
    assert!(validate_key(&key).is_ok());
}

#[test]
fn valid_keys_pass() {
    for key in [
        "a",
        "a/b/c.txt",
        ".hidden",
        "a/.b/..c",
        "a..b",
        "ü/ñ",
        "with space",
        "x-y_z~!@$",
    ] {
        assert!(validate_key(key).is_ok(), "{key:?}");
    }
}

// ---- local backend only ----

mod local_only {
    use super::*;
    use std::os::unix::fs::symlink;

    async fn open() -> (tempfile::TempDir, LocalStorage) {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = LocalStorage::open(dir.path().join("objects"))
            .await
            .expect("open");
        (dir, storage)
    }

    /// The local backend's on-disk name of an object (see `LocalStorage::path_of`).
    fn object_file(name: &str) -> String {
        format!("\\{name}")
    }

    fn assert_denied<T: std::fmt::Debug>(result: Result<T, StorageError>, what: &str) {
        let err = result.expect_err(what);
        assert!(
            matches!(err, StorageError::Denied { .. }),
            "{what}: {err:?}"
        );
        assert_eq!(err.code(), "storage-denied");
    }

    #[tokio::test]
    async fn an_object_and_a_folder_can_share_a_name() {
        let (_dir, storage) = open().await;
        // As on S3: an object at `k` and objects under `k/` coexist.
        let original = "uploads/abc";
        let thumb = format!("{original}/under/thumb.webp");
        storage
            .put(original, bytes("original"), "image/jpeg")
            .await
            .expect("put original");
        storage
            .put(&thumb, bytes("thumb"), "image/webp")
            .await
            .expect("put variant under it");
        assert_eq!(
            storage.get(original, 100).await.expect("get original"),
            b"original"
        );
        assert_eq!(
            storage.get(&thumb, 100).await.expect("get variant"),
            b"thumb"
        );
        assert_eq!(
            keys(&storage.list("uploads/", None, 10).await.expect("list")),
            [original, thumb.as_str()]
        );
        assert_eq!(
            storage
                .delete_prefix(&format!("{original}/under/"))
                .await
                .expect("delete variants"),
            1
        );
        assert_eq!(
            storage.get(original, 100).await.expect("original kept"),
            b"original"
        );
        // A folder alone is not an object.
        assert_eq!(storage.head("uploads").await.expect("head folder"), None);
        // And the other way round: a folder first, then an object of the same name.
        storage
            .put("x/y", bytes("child"), "text/plain")
            .await
            .expect("put child");
        storage
            .put("x", bytes("parent"), "text/plain")
            .await
            .expect("put parent");
        assert_eq!(
            keys(&storage.list("x", None, 10).await.expect("list")),
            ["x", "x/y"]
        );
    }

    #[tokio::test]
    async fn the_root_is_created_if_missing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("a/b/objects");
        let storage = LocalStorage::open(&root).await.expect("open");
        assert!(root.is_dir());
        assert_eq!(storage.root(), root);
    }

    #[tokio::test]
    async fn a_link_to_a_file_outside_the_root_is_not_followed() {
        let (dir, storage) = open().await;
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "outside").expect("write outside");
        symlink(&secret, storage.path_of("link").expect("path")).expect("plant link");

        assert_denied(storage.get("link", 100).await, "get through link");
        assert_denied(storage.head("link").await, "head through link");
        assert_denied(
            storage
                .put("link", bytes("overwritten"), "text/plain")
                .await,
            "put through link",
        );
        assert_denied(storage.copy("link", "stolen").await, "copy from link");
        assert_eq!(
            std::fs::read_to_string(&secret).expect("read outside"),
            "outside"
        );
        assert!(
            storage.list("", None, 10).await.expect("list").is_empty(),
            "a link is not an object"
        );
    }

    #[tokio::test]
    async fn a_link_to_an_object_inside_the_root_is_not_followed() {
        let (_dir, storage) = open().await;
        storage
            .put("real", bytes("real"), "text/plain")
            .await
            .expect("put");
        symlink(
            storage.path_of("real").expect("path"),
            storage.path_of("alias").expect("path"),
        )
        .expect("plant link");

        assert_denied(storage.get("alias", 100).await, "get through link");
        assert_denied(storage.head("alias").await, "head through link");
        assert_denied(
            storage.put("alias", bytes("changed"), "text/plain").await,
            "put through link",
        );
        assert_denied(storage.copy("real", "alias").await, "copy onto link");
        assert_eq!(storage.get("real", 100).await.expect("get"), b"real");
        assert_eq!(
            keys(&storage.list("", None, 10).await.expect("list")),
            ["real"]
        );
    }

    #[tokio::test]
    async fn a_linked_folder_is_not_followed() {
        let (dir, storage) = open().await;
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).expect("outside folder");
        symlink(&outside, storage.root().join("linked")).expect("plant outside folder link");
        // Written through the link by the test, where `linked/f` would be.
        let outside_object = storage.path_of("linked/f").expect("path");
        std::fs::write(&outside_object, "outside").expect("outside object");
        storage
            .put("inside/f", bytes("inside"), "text/plain")
            .await
            .expect("put");
        symlink(storage.root().join("inside"), storage.root().join("alias"))
            .expect("plant inside folder link");

        for folder in ["linked", "alias"] {
            let key = format!("{folder}/f");
            assert_denied(storage.get(&key, 100).await, "get through folder link");
            assert_denied(storage.head(&key).await, "head through folder link");
            assert_denied(
                storage
                    .put(&format!("{folder}/new"), bytes("x"), "text/plain")
                    .await,
                "put through folder link",
            );
            assert_denied(storage.delete(&key).await, "delete through folder link");
            assert_denied(
                storage.delete_prefix(&format!("{folder}/")).await,
                "delete_prefix of folder link",
            );
            assert_denied(
                storage.list(&format!("{folder}/"), None, 10).await,
                "list of folder link",
            );
        }
        assert!(outside_object.exists(), "nothing outside was deleted");
        assert!(
            !storage.path_of("linked/new").expect("path").exists(),
            "nothing was written outside"
        );
        assert_eq!(
            keys(&storage.list("", None, 10).await.expect("list")),
            ["inside/f"],
            "links are skipped"
        );
    }

    #[tokio::test]
    async fn the_root_cannot_be_escaped() {
        let (dir, storage) = open().await;
        std::fs::write(dir.path().join(object_file("beside")), "beside the root")
            .expect("write beside");
        for key in ["../beside", "/etc/passwd", "a/../../beside"] {
            let err = storage.get(key, 100).await.expect_err(key);
            assert!(
                matches!(err, StorageError::InvalidKey { .. }),
                "{key}: {err:?}"
            );
            let err = storage
                .put(key, bytes("x"), "text/plain")
                .await
                .expect_err(key);
            assert!(
                matches!(err, StorageError::InvalidKey { .. }),
                "{key}: {err:?}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join(object_file("beside"))).expect("read"),
            "beside the root"
        );
    }

    /// Feeds `body` to `put_new` as an upload URL does, then `Done`.
    async fn put_new(storage: &LocalStorage, key: &str, body: &[u8]) -> bool {
        use attachd::storage::Incoming;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(Incoming::Chunk(Bytes::copy_from_slice(body)))
            .await
            .unwrap();
        tx.send(Incoming::Done).await.unwrap();
        storage.put_new(key, rx).await.expect("put_new")
    }

    #[tokio::test]
    async fn put_new_creates_once_and_never_replaces_an_object() {
        use attachd::storage::Incoming;
        let (_dir, storage) = open().await;
        assert!(put_new(&storage, "u/a", b"first").await);
        assert!(!put_new(&storage, "u/a", b"second").await);
        assert_eq!(storage.get("u/a", 100).await.unwrap(), b"first");
        // Two writers at once, both past any look for the object: the first to finish wins,
        // the other writes nothing (no check-then-write window).
        let (tx1, rx1) = tokio::sync::mpsc::channel(4);
        let (tx2, rx2) = tokio::sync::mpsc::channel(4);
        let storage = std::sync::Arc::new(storage);
        let (s1, s2) = (storage.clone(), storage.clone());
        let first = tokio::spawn(async move { s1.put_new("u/b", rx1).await });
        let second = tokio::spawn(async move { s2.put_new("u/b", rx2).await });
        tx1.send(Incoming::Chunk(Bytes::from_static(b"one")))
            .await
            .unwrap();
        tx2.send(Incoming::Chunk(Bytes::from_static(b"two")))
            .await
            .unwrap();
        tx2.send(Incoming::Done).await.unwrap();
        assert!(
            second.await.unwrap().unwrap(),
            "the first to finish creates it"
        );
        tx1.send(Incoming::Done).await.unwrap();
        assert!(
            !first.await.unwrap().unwrap(),
            "the later one does not replace it"
        );
        assert_eq!(storage.get("u/b", 100).await.unwrap(), b"two");
        // A body that never got its `Done` writes nothing.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(Incoming::Chunk(Bytes::from_static(b"part")))
            .await
            .unwrap();
        drop(tx);
        assert!(storage.put_new("u/c", rx).await.is_err());
        assert!(storage.head("u/c").await.unwrap().is_none());
        // And no temporary file stays behind in any of these.
        let names: Vec<_> = std::fs::read_dir(storage.root().join("u"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
    }

    #[tokio::test]
    async fn writes_leave_no_temporary_files() {
        let (_dir, storage) = open().await;
        for round in 0..3 {
            storage
                .put("a/b", Bytes::from(vec![round; 1000]), "text/plain")
                .await
                .expect("put");
        }
        storage.copy("a/b", "a/c").await.expect("copy");
        let mut names: Vec<_> = std::fs::read_dir(storage.root().join("a"))
            .expect("read folder")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        assert_eq!(names, ["\\b", "\\c"]);
    }

    #[tokio::test]
    async fn files_not_written_by_the_store_are_not_objects() {
        let (_dir, storage) = open().await;
        storage
            .put("a/real", bytes("r"), "text/plain")
            .await
            .expect("put");
        // A crash leftover and a file someone copied in by hand, without the object mark.
        std::fs::write(storage.root().join("a/.attachd-tmp-0123"), "partial").expect("write");
        std::fs::write(storage.root().join("a/manual"), "manual").expect("write");
        assert_eq!(
            keys(&storage.list("", None, 10).await.expect("list")),
            ["a/real"]
        );
        assert_eq!(storage.delete_prefix("a/").await.expect("delete_prefix"), 1);
        assert!(
            !storage.root().join("a").exists(),
            "the emptied folder is removed"
        );
    }
}

// ---- S3 backend only ----

mod s3_only {
    use super::*;
    use attachd::storage::S3Settings;

    #[tokio::test]
    async fn large_objects_go_up_in_parts() {
        let server = S3Server::start().await;
        let storage = S3Storage::new(server.settings()).await.expect("storage");
        storage
            .put("large", large_object(), "application/octet-stream")
            .await
            .expect("put");
        storage
            .put("small", bytes("small"), "text/plain")
            .await
            .expect("put");
        let client = server.raw_client();
        let etag = |key: &'static str| {
            let client = client.clone();
            let bucket = server.bucket.clone();
            async move {
                let head = client
                    .head_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .expect("head");
                head.e_tag()
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_owned()
            }
        };
        // A multipart object's ETag ends in `-<parts>`; 11 MiB in 5 MiB parts is three.
        assert!(
            etag("large").await.ends_with("-3"),
            "{}",
            etag("large").await
        );
        assert!(!etag("small").await.contains('-'));
        assert!(server.bucket_dir().join("large").is_file());
        // s3s-fs keeps parts as `.upload_id-…` files beside the buckets until the upload is
        // completed or aborted.
        let store_root = server.bucket_dir().parent().expect("root").to_owned();
        let leftover_parts = std::fs::read_dir(store_root)
            .expect("read store root")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with(".upload_id-"))
            .count();
        assert_eq!(leftover_parts, 0, "no upload left open");
    }

    #[tokio::test]
    async fn content_type_is_stored() {
        let server = S3Server::start().await;
        let storage = S3Storage::new(server.settings()).await.expect("storage");
        storage
            .put("img", bytes("x"), "image/webp")
            .await
            .expect("put");
        storage
            .put("large", large_object(), "image/png")
            .await
            .expect("put large");
        let client = server.raw_client();
        for (key, expected) in [("img", "image/webp"), ("large", "image/png")] {
            let head = client
                .head_object()
                .bucket(&server.bucket)
                .key(key)
                .send()
                .await
                .expect("head");
            assert_eq!(head.content_type(), Some(expected), "{key}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_fails_fast_as_retryable() {
        // A port nothing listens on: bind one, note it, free it.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address").port()
        };
        let settings = S3Settings {
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            force_path_style: true,
            credentials: Some(("id".to_owned(), "secret".to_owned())),
            ..S3Settings::new("bucket")
        };
        let storage = S3Storage::new(settings)
            .await
            .expect("construction never connects");

        let started = Instant::now();
        let err = storage.get("key", 100).await.expect_err("get from nowhere");
        let get_took = started.elapsed();
        assert!(
            matches!(err, StorageError::Unavailable { op: "get", .. }),
            "{err:?}"
        );
        assert_eq!(
            (err.code(), err.class()),
            ("storage-unavailable", Class::Retryable)
        );

        let started = Instant::now();
        let err = storage
            .put("key", bytes("x"), "text/plain")
            .await
            .expect_err("put to nowhere");
        let put_took = started.elapsed();
        assert!(
            matches!(err, StorageError::Unavailable { op: "put", .. }),
            "{err:?}"
        );
        assert_eq!(err.class(), Class::Retryable);

        println!("unreachable S3: get failed after {get_took:?}, put after {put_took:?}");
        assert!(get_took < Duration::from_secs(30) && put_took < Duration::from_secs(30));
    }

    #[tokio::test]
    async fn a_failing_store_is_retried_within_the_attempt_budget() {
        let server = common::s3::FailingServer::start().await;
        let settings = S3Settings {
            endpoint: Some(server.endpoint.clone()),
            force_path_style: true,
            credentials: Some(("id".to_owned(), "secret".to_owned())),
            ..S3Settings::new("bucket")
        };
        let storage = S3Storage::new(settings).await.expect("storage");
        let started = Instant::now();
        let err = storage.get("key", 100).await.expect_err("503 every time");
        println!("503s: get gave up after {:?}", started.elapsed());
        assert!(
            matches!(err, StorageError::Unavailable { op: "get", .. }),
            "{err:?}"
        );
        assert_eq!(err.class(), Class::Retryable);
        let attempts = server.requests.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(attempts, attachd::storage::MAX_ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn wrong_credentials_are_denied_and_retryable() {
        let server = S3Server::start().await;
        let settings = S3Settings {
            credentials: Some((
                common::s3::ACCESS_KEY.to_owned(),
                "not-the-secret".to_owned(),
            )),
            ..server.settings()
        };
        let storage = S3Storage::new(settings).await.expect("storage");
        let err = storage
            .put("key", bytes("x"), "text/plain")
            .await
            .expect_err("bad signature");
        assert!(matches!(err, StorageError::Denied { .. }), "{err:?}");
        assert_eq!(
            (err.code(), err.class()),
            ("storage-denied", Class::Retryable)
        );
        let err = storage.get("key", 10).await.expect_err("bad signature");
        assert!(matches!(err, StorageError::Denied { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_missing_bucket_is_denied_not_a_missing_object() {
        let server = S3Server::start().await;
        let settings = S3Settings {
            bucket: "no-such-bucket".to_owned(),
            ..server.settings()
        };
        let storage = S3Storage::new(settings).await.expect("storage");
        // (s3s-fs answers a GET in a missing bucket with NoSuchKey; S3 says NoSuchBucket to all.)
        let err = storage.list("", None, 10).await.expect_err("no bucket");
        // A job must not be failed for good because the bucket is misconfigured.
        assert!(matches!(err, StorageError::Denied { .. }), "{err:?}");
        assert_eq!(err.class(), Class::Retryable);
    }
}
